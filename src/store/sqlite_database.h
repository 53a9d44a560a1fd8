#pragma once

#include <filesystem>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <span>
#include <vector>

#include "store/database.h"

namespace fleetgate::store {

// SQLite in WAL mode with synchronous=FULL, so an acknowledged write survives a crash.
// Writes go through one connection (SQLite serializes writers anyway) with group commit:
// writes that arrive while a commit is syncing are run together, each inside its own
// savepoint (so each is still all-or-nothing), and made durable by one fsync. Reads use a
// small pool of connections that run beside the writer.
class SqliteDatabase final : public Database {
 public:
  // Opens (creating if missing) and applies the migrations not yet recorded in schema_version.
  static Result<std::unique_ptr<SqliteDatabase>> open(const std::filesystem::path& file,
                                                      std::span<const Migration> migrations);
  ~SqliteDatabase() override;

  Status write(const std::function<Status(Transaction&)>& body) override;
  Status read(const std::function<Status(Transaction&)>& body) override;
  int schemaVersion() const { return schema_version_; }

 struct Connection;  // one sqlite3 handle; defined in the .cc

 private:
  SqliteDatabase() = default;

  std::filesystem::path file_;
  int schema_version_ = 0;
  struct PendingWrite;
  void commitBatch(const std::vector<PendingWrite*>& batch);

  std::unique_ptr<Connection> writer_;
  // Group commit: writes queue here; one caller at a time leads a batch to commit.
  std::mutex queue_mutex_;
  std::condition_variable batch_done_;
  std::vector<PendingWrite*> queue_;
  bool leader_active_ = false;
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
};

}  // namespace fleetgate::store
