#include "store/sqlite_database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_map>

namespace fleetgate::store {
namespace {

Error sqliteError(sqlite3* db, std::string_view what) {
  return internalError(std::string(what) + ": " + sqlite3_errmsg(db));
}

}  // namespace

// One sqlite3 handle with its prepared-statement cache. Used by one thread at a time.
struct SqliteDatabase::Connection final : Transaction {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements;

  ~Connection() override {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
  }

  Status execScript(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string cause = message ? message : "unknown";
      sqlite3_free(message);
      return internalError(std::string("sqlite: ") + cause);
    }
    return {};
  }

  Result<sqlite3_stmt*> prepare(std::string_view sql, const std::vector<Value>& params) {
    auto it = statements.find(std::string(sql));
    sqlite3_stmt* stmt = nullptr;
    if (it != statements.end()) {
      stmt = it->second;
    } else {
      if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                             &stmt, nullptr) != SQLITE_OK) {
        return sqliteError(db, "prepare " + std::string(sql));
      }
      statements.emplace(std::string(sql), stmt);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    for (std::size_t i = 0; i < params.size(); ++i) {
      int index = static_cast<int>(i + 1);
      const Value& v = params[i];
      int rc;
      if (std::holds_alternative<std::nullptr_t>(v)) {
        rc = sqlite3_bind_null(stmt, index);
      } else if (auto* n = std::get_if<std::int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, index, *n);
      } else if (auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, index, *d);
      } else {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return sqliteError(db, "bind");
    }
    return stmt;
  }

  Result<std::int64_t> exec(std::string_view sql, const std::vector<Value>& params) override {
    FG_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, prepare(sql, params));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return sqliteError(db, "exec " + std::string(sql));
    return static_cast<std::int64_t>(sqlite3_changes64(db));
  }

  Result<std::vector<Row>> query(std::string_view sql, const std::vector<Value>& params) override {
    FG_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, prepare(sql, params));
    std::vector<Row> rows;
    int rc;
    const int columns = sqlite3_column_count(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<Value> values;
      values.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL: values.emplace_back(nullptr); break;
          case SQLITE_INTEGER: values.emplace_back(std::int64_t{sqlite3_column_int64(stmt, c)}); break;
          case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(stmt, c)); break;
          default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_blob(stmt, c));
            int size = sqlite3_column_bytes(stmt, c);
            values.emplace_back(std::string(text ? text : "", static_cast<std::size_t>(size)));
          }
        }
      }
      rows.emplace_back(std::move(values));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return sqliteError(db, "query " + std::string(sql));
    return rows;
  }
};

namespace {

Result<std::unique_ptr<SqliteDatabase::Connection>> openConnection(const std::filesystem::path& file,
                                                                   bool create) {
  auto conn = std::make_unique<SqliteDatabase::Connection>();
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(file.c_str(), &conn->db, flags, nullptr) != SQLITE_OK) {
    return environmentError("cannot open " + file.string() + ": " + sqlite3_errmsg(conn->db),
                            sqlite3_system_errno(conn->db));
  }
  sqlite3_busy_timeout(conn->db, 10000);
  FG_RETURN_IF_ERROR(conn->execScript(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return conn;
}

// The database holds secrets (sealed, but still): its file is the owner's alone from the moment
// it exists, whatever the umask. SQLite gives the -wal and -shm files the main file's mode.
Status makePrivate(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return environmentError("cannot open " + file.string(), errno);
  const bool ok = ::fchmod(fd, 0600) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) return environmentError("cannot make " + file.string() + " private (0600)", saved);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    std::filesystem::path companion = file;
    companion += suffix;
    if (::chmod(companion.c_str(), 0600) != 0 && errno != ENOENT) {
      return environmentError("cannot make " + companion.string() + " private (0600)", errno);
    }
  }
  return {};
}

// When a migration was applied: an audit record only, never compared, so the wall clock is
// read here rather than injected.
std::int64_t epochSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SqliteDatabase::~SqliteDatabase() = default;

Result<std::unique_ptr<SqliteDatabase>> SqliteDatabase::open(
    const std::filesystem::path& file, std::span<const Migration> migrations) {
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase());
  db->file_ = file;
  FG_RETURN_IF_ERROR(makePrivate(file));
  FG_ASSIGN_OR_RETURN(db->writer_, openConnection(file, true));
  Connection& w = *db->writer_;
  // Portable SQL, so a PostgreSQL backend keeps the same bookkeeping. Files made before this
  // have `applied_at ... DEFAULT (unixepoch())`; the INSERT below names applied_at in the same
  // unit (epoch seconds), so old and new files hold the same thing.
  FG_RETURN_IF_ERROR(w.execScript(
      "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL, applied_at BIGINT NOT "
      "NULL)"));
  FG_RETURN_IF_ERROR(db->write([&](Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
    int current = static_cast<int>(row->integer(0));
    for (const Migration& m : migrations) {
      if (m.version <= current) continue;
      FG_RETURN_IF_ERROR(w.execScript(std::string(m.sql).c_str()));
      FG_RETURN_IF_ERROR(tx.exec("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                                 {std::int64_t{m.version}, epochSeconds()}));
      current = m.version;
    }
    db->schema_version_ = current;
    return {};
  }));
  return db;
}

struct SqliteDatabase::PendingWrite {
  const std::function<Status(Transaction&)>* body;
  Status result;
  bool done = false;
};

namespace {
// Bounds how much one commit carries, so a burst cannot make one caller wait for thousands.
constexpr std::size_t kMaxBatch = 128;
}  // namespace

Status SqliteDatabase::write(const std::function<Status(Transaction&)>& body) {
  PendingWrite me{&body, {}, false};
  std::unique_lock lock(queue_mutex_);
  queue_.push_back(&me);
  while (!me.done) {
    if (leader_active_) {
      batch_done_.wait(lock);
      continue;
    }
    leader_active_ = true;
    std::size_t n = std::min(queue_.size(), kMaxBatch);
    std::vector<PendingWrite*> batch(queue_.begin(), queue_.begin() + static_cast<long>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
    lock.unlock();
    commitBatch(batch);
    lock.lock();
    for (PendingWrite* w : batch) w->done = true;
    leader_active_ = false;
    batch_done_.notify_all();
  }
  return std::move(me.result);
}

void SqliteDatabase::commitBatch(const std::vector<PendingWrite*>& batch) {
  Connection& c = *writer_;
  auto failAll = [&](const Status& status) {
    for (PendingWrite* w : batch) w->result = status;
  };
  if (Status begun = c.execScript("BEGIN IMMEDIATE"); !begun.ok()) return failAll(begun);
  bool any_ok = false;
  for (PendingWrite* w : batch) {
    if (batch.size() == 1) {
      w->result = (*w->body)(c);
    } else {
      // Each write keeps all-or-nothing semantics inside the shared transaction.
      if (Status s = c.execScript("SAVEPOINT w"); !s.ok()) {
        w->result = s;
        continue;
      }
      w->result = (*w->body)(c);
      if (!w->result.ok()) (void)c.execScript("ROLLBACK TO w");
      (void)c.execScript("RELEASE w");
    }
    any_ok = any_ok || w->result.ok();
  }
  if (!any_ok) {
    (void)c.execScript("ROLLBACK");
    return;
  }
  if (Status committed = c.execScript("COMMIT"); !committed.ok()) {
    (void)c.execScript("ROLLBACK");
    for (PendingWrite* w : batch) {
      if (w->result.ok()) w->result = committed;
    }
  }
}

Status SqliteDatabase::read(const std::function<Status(Transaction&)>& body) {
  std::unique_ptr<Connection> conn;
  {
    std::lock_guard lock(readers_mutex_);
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
  }
  if (!conn) {
    FG_ASSIGN_OR_RETURN(conn, openConnection(file_, false));
  }
  Status status = conn->execScript("BEGIN");
  if (status.ok()) {
    status = body(*conn);
    (void)conn->execScript("COMMIT");
  }
  std::lock_guard lock(readers_mutex_);
  idle_readers_.push_back(std::move(conn));
  return status;
}

}  // namespace fleetgate::store
