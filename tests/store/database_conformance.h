#pragma once

// The behaviour every store::Database backend shows, written once (docs/store.md sums it up).
// A backend's `<backend>_conformance_test.cc` defines a factory type
//
//   struct MyBackend {
//     // Opens the backend's test database, applying `migrations`. Every call on one object opens
//     // the same storage, which is empty before the first call.
//     Result<std::unique_ptr<Database>> open(std::span<const Migration> migrations);
//   };
//
// and instantiates the suite: INSTANTIATE_TYPED_TEST_SUITE_P(My, DatabaseConformance, MyBackend);
// The SQL here is what the registry may use: valid for SQLite and for PostgreSQL alike.

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/database.h"

namespace fleetgate::store::conformance {

constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL);"
     "CREATE TABLE kv_tags (k TEXT NOT NULL REFERENCES kv (k), tag TEXT NOT NULL);"
     "CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, t TEXT);"},
    {2, "ALTER TABLE kv ADD COLUMN note TEXT;"},
};

// Runs a statement whose change count does not matter.
inline Status run(Transaction& tx, std::string_view sql, const std::vector<Value>& params = {}) {
  FG_RETURN_IF_ERROR(tx.exec(sql, params));
  return {};
}

inline Status insert(Transaction& tx, const std::string& k, std::int64_t v) {
  return run(tx, "INSERT INTO kv (k, v) VALUES (?, ?)", {k, v});
}

// Runs `step(key, i)` for i in [0, per_thread) on each of `threads` threads; keys are unique.
inline void inThreads(int threads, int per_thread,
                      const std::function<void(const std::string& key, int i)>& step) {
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) step(std::to_string(t) + "-" + std::to_string(i), i);
    });
  }
  for (auto& thread : running) thread.join();
}

template <typename Backend>
class DatabaseConformance : public ::testing::Test {
 protected:
  std::unique_ptr<Database> open(std::span<const Migration> migrations = kMigrations) {
    auto db = backend_.open(migrations);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().cause());
    return db.ok() ? std::move(db).value() : nullptr;
  }

  static std::int64_t count(Database& db) {
    std::int64_t n = -1;
    EXPECT_TRUE(db.read([&](Transaction& tx) -> Status {
                    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT COUNT(*) FROM kv"));
                    n = row->integer(0);
                    return {};
                  }).ok());
    return n;
  }

  Backend backend_;
};

TYPED_TEST_SUITE_P(DatabaseConformance);

TYPED_TEST_P(DatabaseConformance, AppliesMigrationsOnceInOrder) {
  {
    auto db = this->open(std::span(kMigrations).first(1));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->write([](Transaction& tx) { return insert(tx, "a", 1); }).ok());
  }
  auto db = this->open();
  ASSERT_TRUE(db);
  // Version 2's column exists, so its migration ran on the old database.
  EXPECT_TRUE(db->write([](Transaction& tx) {
                  return run(tx, "INSERT INTO kv (k, v, note) VALUES ('b', 2, 'x')");
                }).ok());
  db.reset();
  auto again = this->open();  // would fail if it ran version 2's ALTER TABLE a second time
  ASSERT_TRUE(again);
  EXPECT_EQ(this->count(*again), 2);
}

TYPED_TEST_P(DatabaseConformance, FailedMigrationChangesNothing) {
  ASSERT_TRUE(this->open(std::span(kMigrations).first(1)));
  const Migration broken[] = {
      kMigrations[0],
      {2, "ALTER TABLE kv ADD COLUMN note TEXT; SELECT nope FROM nowhere;"},
  };
  auto failed = this->backend_.open(broken);
  ASSERT_FALSE(failed.ok());
  // The broken version 2 left no column behind, so the real one applies.
  ASSERT_TRUE(this->open());
}

TYPED_TEST_P(DatabaseConformance, FailedWriteRollsBackEverything) {
  auto db = this->open();
  Status failed = db->write([](Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(insert(tx, "a", 1));
    FG_RETURN_IF_ERROR(insert(tx, "b", 2));
    return Error(ErrorKind::kInvalidRequest, "changed my mind");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::kInvalidRequest);  // the body's error, unchanged
  EXPECT_EQ(this->count(*db), 0);
}

TYPED_TEST_P(DatabaseConformance, ConstraintViolationIsAnErrorAndRollsBack) {
  auto db = this->open();
  const char* violations[] = {
      "INSERT INTO kv (k, v) VALUES ('a', 2)",                // primary key
      "INSERT INTO kv (k, v) VALUES ('b', NULL)",             // NOT NULL
      "INSERT INTO kv_tags (k, tag) VALUES ('nobody', 't')",  // foreign key
  };
  for (const char* sql : violations) {
    Status failed = db->write([&](Transaction& tx) -> Status {
      FG_RETURN_IF_ERROR(insert(tx, "a", 1));
      return run(tx, sql);
    });
    ASSERT_FALSE(failed.ok()) << sql;
    EXPECT_EQ(failed.error().kind(), ErrorKind::kInternalFailure) << sql;
    EXPECT_EQ(this->count(*db), 0) << sql;
  }
}

TYPED_TEST_P(DatabaseConformance, BadSqlIsAnInternalError) {
  auto db = this->open();
  Status read = db->read([](Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(tx.query("SELECT nope FROM nowhere"));
    return {};
  });
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().kind(), ErrorKind::kInternalFailure);
  Status write = db->write([](Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(insert(tx, "a", 1));
    return run(tx, "INSERT INTO nowhere VALUES (1)");
  });
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().kind(), ErrorKind::kInternalFailure);
  EXPECT_EQ(this->count(*db), 0);
}

TYPED_TEST_P(DatabaseConformance, ValuesRoundTripExactly) {
  auto db = this->open();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  const std::string utf8 = "th\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\x91";  // é, a check mark, a key
  const std::vector<std::vector<Value>> rows = {
      {std::int64_t{1}, kMax, 0.5, utf8},
      {std::int64_t{2}, kMin, -1e300, std::string()},
      {std::int64_t{3}, nullptr, nullptr, nullptr},
  };
  ASSERT_TRUE(db->write([&](Transaction& tx) -> Status {
                  for (const auto& row : rows) {
                    FG_ASSIGN_OR_RETURN(
                        auto changed,
                        tx.exec("INSERT INTO vals (id, i, r, t) VALUES (?, ?, ?, ?)", row));
                    EXPECT_EQ(changed, 1);
                  }
                  return {};
                }).ok());
  ASSERT_TRUE(
      db->read([&](Transaction& tx) -> Status {
          FG_ASSIGN_OR_RETURN(auto all, tx.query("SELECT id, i, r, t FROM vals ORDER BY id"));
          EXPECT_EQ(all.size(), rows.size());
          if (all.size() != rows.size()) return {};
          EXPECT_EQ(all[0].integer(1), kMax);
          EXPECT_EQ(all[0].real(2), 0.5);
          EXPECT_EQ(all[0].text(3), utf8);
          EXPECT_EQ(all[1].integer(1), kMin);
          EXPECT_EQ(all[1].real(2), -1e300);
          EXPECT_FALSE(all[1].isNull(3));  // the empty string is not NULL
          EXPECT_EQ(all[1].text(3), "");
          for (std::size_t c = 1; c < 4; ++c) EXPECT_TRUE(all[2].isNull(c)) << c;
          // Limits also compare exactly as parameters.
          FG_ASSIGN_OR_RETURN(auto min, tx.queryOne("SELECT id FROM vals WHERE i = ?", {kMin}));
          EXPECT_TRUE(min.has_value() && min->integer(0) == 2);
          FG_ASSIGN_OR_RETURN(auto text, tx.queryOne("SELECT id FROM vals WHERE t = ?", {utf8}));
          EXPECT_TRUE(text.has_value() && text->integer(0) == 1);
          return {};
        }).ok());
}

// The registry pages with `name > ?` and merges pages with std::set: text must order by bytes.
TYPED_TEST_P(DatabaseConformance, TextOrdersByBytes) {
  auto db = this->open();
  const std::vector<std::string> sorted = {"", "B", "a", "a b", "ab", "\x7F", "\xC3\xA9"};
  ASSERT_TRUE(db->write([&](Transaction& tx) -> Status {
                  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) {
                    FG_RETURN_IF_ERROR(insert(tx, *it, 0));
                  }
                  return {};
                }).ok());
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT k FROM kv ORDER BY k"));
                  std::vector<std::string> keys;
                  for (const auto& row : rows) keys.push_back(row.text(0));
                  EXPECT_EQ(keys, std::vector<std::string>(sorted.begin(), sorted.end()));
                  FG_ASSIGN_OR_RETURN(
                      auto after,
                      tx.query("SELECT k FROM kv WHERE k > ? ORDER BY k", {std::string("a b")}));
                  EXPECT_EQ(after.size(), 3u);
                  return {};
                }).ok());
}

TYPED_TEST_P(DatabaseConformance, QueryOneGivesNothingOrTheRow) {
  auto db = this->open();
  ASSERT_TRUE(db->write([](Transaction& tx) { return insert(tx, "a", 1); }).ok());
  ASSERT_TRUE(db->read([](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(
                      auto none, tx.queryOne("SELECT v FROM kv WHERE k = ?", {std::string("b")}));
                  EXPECT_FALSE(none.has_value());
                  FG_ASSIGN_OR_RETURN(
                      auto one, tx.queryOne("SELECT k, v FROM kv WHERE k = ?", {std::string("a")}));
                  EXPECT_TRUE(one.has_value() && one->size() == 2 && one->integer(1) == 1);
                  return {};
                }).ok());
}

TYPED_TEST_P(DatabaseConformance, ExecCountsTheRowsItChanged) {
  auto db = this->open();
  ASSERT_TRUE(db->write([](Transaction& tx) -> Status {
                  for (const char* k : {"a", "b", "c"}) FG_RETURN_IF_ERROR(insert(tx, k, 1));
                  FG_ASSIGN_OR_RETURN(auto none, tx.exec("UPDATE kv SET v = 2 WHERE k = 'zz'"));
                  EXPECT_EQ(none, 0);
                  FG_ASSIGN_OR_RETURN(auto two, tx.exec("UPDATE kv SET v = v + 1 WHERE k <> 'a'"));
                  EXPECT_EQ(two, 2);
                  FG_ASSIGN_OR_RETURN(auto three, tx.exec("DELETE FROM kv"));
                  EXPECT_EQ(three, 3);
                  return {};
                }).ok());
}

TYPED_TEST_P(DatabaseConformance, WriteSeesItsOwnChangesAndReadersDoNot) {
  auto db = this->open();
  ASSERT_TRUE(db->write([&](Transaction& tx) -> Status {
                  FG_RETURN_IF_ERROR(insert(tx, "a", 1));
                  FG_ASSIGN_OR_RETURN(auto own, tx.queryOne("SELECT COUNT(*) FROM kv"));
                  EXPECT_EQ(own->integer(0), 1);
                  std::int64_t seen = -1;
                  std::thread reader([&] { seen = this->count(*db); });  // must not wait for us
                  reader.join();
                  EXPECT_EQ(seen, 0);
                  return {};
                }).ok());
  EXPECT_EQ(this->count(*db), 1);
}

// A read keeps one snapshot: a write that commits while it runs is invisible to it.
TYPED_TEST_P(DatabaseConformance, ReadKeepsOneSnapshot) {
  auto db = this->open();
  std::mutex m;
  std::condition_variable cv;
  bool first_read = false, written = false;
  std::thread reader([&] {
    EXPECT_TRUE(db->read([&](Transaction& tx) -> Status {
                    FG_ASSIGN_OR_RETURN(auto before, tx.queryOne("SELECT COUNT(*) FROM kv"));
                    std::unique_lock lock(m);
                    first_read = true;
                    cv.notify_all();
                    cv.wait(lock, [&] { return written; });
                    FG_ASSIGN_OR_RETURN(auto after, tx.queryOne("SELECT COUNT(*) FROM kv"));
                    EXPECT_EQ(after->integer(0), before->integer(0));
                    return {};
                  }).ok());
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return first_read; });
  }
  EXPECT_TRUE(db->write([](Transaction& tx) { return insert(tx, "a", 1); }).ok());
  {
    std::lock_guard lock(m);
    written = true;
  }
  cv.notify_all();
  reader.join();
  EXPECT_EQ(this->count(*db), 1);
}

TYPED_TEST_P(DatabaseConformance, ConcurrentWritersAllCommit) {
  auto db = this->open();
  constexpr int kThreads = 8, kPerThread = 50;
  inThreads(kThreads, kPerThread, [&](const std::string& key, int i) {
    EXPECT_TRUE(db->write([&](Transaction& tx) { return insert(tx, key, i); }).ok());
    EXPECT_GE(this->count(*db), 1);  // readers run beside the writers
  });
  EXPECT_EQ(this->count(*db), kThreads * kPerThread);
}

// A backend may commit concurrent writes together (group commit); one that fails must still
// roll back alone and leave the others committed.
TYPED_TEST_P(DatabaseConformance, FailingWritesAmongConcurrentOnesRollBackAlone) {
  auto db = this->open();
  constexpr int kThreads = 8, kPerThread = 40;
  inThreads(kThreads, kPerThread, [&](const std::string& key, int i) {
    const bool fail = (i % 2) == 1;
    const bool bad_sql = (i % 4) == 3;  // a failed statement, not only a failed body
    Status s = db->write([&](Transaction& tx) -> Status {
      FG_RETURN_IF_ERROR(insert(tx, key, i));
      if (bad_sql) return run(tx, "INSERT INTO nowhere VALUES (1)");
      if (fail) return Error(ErrorKind::kInvalidRequest, "no");
      return {};
    });
    EXPECT_EQ(s.ok(), !fail);
  });
  EXPECT_EQ(this->count(*db), kThreads * kPerThread / 2);
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(auto row,
                                      tx.queryOne("SELECT COUNT(*) FROM kv WHERE v % 2 = 1"));
                  EXPECT_EQ(row->integer(0), 0);
                  return {};
                }).ok());
}

REGISTER_TYPED_TEST_SUITE_P(DatabaseConformance, AppliesMigrationsOnceInOrder,
                            FailedMigrationChangesNothing, FailedWriteRollsBackEverything,
                            ConstraintViolationIsAnErrorAndRollsBack, BadSqlIsAnInternalError,
                            ValuesRoundTripExactly, TextOrdersByBytes, QueryOneGivesNothingOrTheRow,
                            ExecCountsTheRowsItChanged, WriteSeesItsOwnChangesAndReadersDoNot,
                            ReadKeepsOneSnapshot, ConcurrentWritersAllCommit,
                            FailingWritesAmongConcurrentOnesRollBackAlone);

}  // namespace fleetgate::store::conformance
