#include "store/sqlite_database.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "testing/temp_dir.h"

namespace fleetgate::store {
namespace {

constexpr Migration kMigrations[] = {
    {1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"},
    {2, "ALTER TABLE kv ADD COLUMN note TEXT;"},
};

class SqliteDatabaseTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteDatabase> open(std::span<const Migration> migrations = kMigrations) {
    auto db = SqliteDatabase::open(dir_.path() / "test.db", migrations);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().cause());
    return std::move(db).value();
  }
  std::int64_t count(Database& db) {
    std::int64_t n = -1;
    EXPECT_TRUE(db.read([&](Transaction& tx) -> Status {
                    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT COUNT(*) FROM kv"));
                    n = row->integer(0);
                    return {};
                  }).ok());
    return n;
  }
  testing::TempDir dir_;
};

TEST_F(SqliteDatabaseTest, AppliesMigrationsOnceInOrder) {
  {
    auto db = open(std::span(kMigrations).first(1));
    EXPECT_EQ(db->schemaVersion(), 1);
  }
  auto db = open();
  EXPECT_EQ(db->schemaVersion(), 2);
  // Version 2's column exists, so its migration ran on the old file.
  EXPECT_TRUE(db->write([](Transaction& tx) -> Status {
                  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v, note) VALUES ('a', 1, 'x')"));
                  return {};
                }).ok());
  auto again = open();  // reopening applies nothing twice
  EXPECT_EQ(again->schemaVersion(), 2);
  EXPECT_EQ(count(*again), 1);
}

TEST_F(SqliteDatabaseTest, FailedWriteRollsBackEverything) {
  auto db = open();
  Status failed = db->write([](Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES ('a', 1)"));
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES ('b', 2)"));
    return Error(ErrorKind::kInvalidRequest, "changed my mind");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::kInvalidRequest);
  EXPECT_EQ(count(*db), 0);
}

TEST_F(SqliteDatabaseTest, ConstraintViolationIsAnErrorAndRollsBack) {
  auto db = open();
  Status failed = db->write([](Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES ('a', 1)"));
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES ('a', 2)"));
    return {};
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::kInternalFailure);
  EXPECT_EQ(count(*db), 0);
}

TEST_F(SqliteDatabaseTest, BindsAllValueTypesAndReadsThemBack) {
  auto db = open();
  std::string binary("a\0b", 3);
  ASSERT_TRUE(db->write([&](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(auto changed,
                                      tx.exec("INSERT INTO kv (k, v, note) VALUES (?, ?, ?)",
                                              {binary, std::int64_t{-7}, nullptr}));
                  EXPECT_EQ(changed, 1);
                  return {};
                }).ok());
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT k, v, note FROM kv WHERE k = ?",
                                                            {binary}));
                  EXPECT_TRUE(row.has_value());
                  EXPECT_EQ(row->text(0), binary);
                  EXPECT_EQ(row->integer(1), -7);
                  EXPECT_TRUE(row->isNull(2));
                  return {};
                }).ok());
}

TEST_F(SqliteDatabaseTest, ConcurrentWritersAllCommit) {
  auto db = open();
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Status s = db->write([&](Transaction& tx) -> Status {
          FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES (?, ?)",
                                     {std::to_string(t) + "-" + std::to_string(i),
                                      std::int64_t{i}}));
          return {};
        });
        EXPECT_TRUE(s.ok());
        EXPECT_GE(count(*db), 1);  // readers run beside the writer
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(count(*db), kThreads * kPerThread);
}

// Concurrent writes share commits (group commit); one that fails must roll back alone.
TEST_F(SqliteDatabaseTest, FailingWritesAmongConcurrentOnesRollBackAlone) {
  auto db = open();
  constexpr int kThreads = 8, kPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const bool fail = (i % 2) == 1;
        Status s = db->write([&](Transaction& tx) -> Status {
          FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES (?, ?)",
                                     {std::to_string(t) + "-" + std::to_string(i),
                                      std::int64_t{i}}));
          if (fail) return Error(ErrorKind::kInvalidRequest, "no");
          return {};
        });
        EXPECT_EQ(s.ok(), !fail);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(count(*db), kThreads * kPerThread / 2);
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT COUNT(*) FROM kv WHERE v % 2 = 1"));
                  EXPECT_EQ(row->integer(0), 0);
                  return {};
                }).ok());
}

TEST_F(SqliteDatabaseTest, BadSqlIsAnInternalError) {
  auto db = open();
  Status s = db->read([](Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(tx.query("SELECT nope FROM nowhere"));
    return {};
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInternalFailure);
}

}  // namespace
}  // namespace fleetgate::store
