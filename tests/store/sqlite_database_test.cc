// SQLite-only behaviour. What every backend shows is in database_conformance.h.
#include "store/sqlite_database.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "testing/temp_dir.h"

namespace fleetgate::store {
namespace {

constexpr Migration kMigrations[] = {
    {1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL);"},
    {2, "ALTER TABLE kv ADD COLUMN note TEXT;"},
};

class SqliteDatabaseTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteDatabase> open(std::span<const Migration> migrations = kMigrations) {
    auto db = SqliteDatabase::open(dir_.path() / "test.db", migrations);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().cause());
    return std::move(db).value();
  }
  testing::TempDir dir_;
};

TEST_F(SqliteDatabaseTest, ReportsTheSchemaVersionItReached) {
  EXPECT_EQ(open(std::span(kMigrations).first(1))->schemaVersion(), 1);
  EXPECT_EQ(open()->schemaVersion(), 2);
  EXPECT_EQ(open()->schemaVersion(), 2);
}

// SQLite keeps text as bytes, NUL included; PostgreSQL text cannot hold NUL, so the registry
// never stores it and the conformance suite does not ask for it.
TEST_F(SqliteDatabaseTest, TextKeepsNulBytes) {
  auto db = open();
  const std::string binary("a\0b", 3);
  ASSERT_TRUE(db->write([&](Transaction& tx) -> Status {
                  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES (?, 1)", {binary}));
                  return {};
                }).ok());
  ASSERT_TRUE(db->read([&](Transaction& tx) -> Status {
                  FG_ASSIGN_OR_RETURN(auto row,
                                      tx.queryOne("SELECT k FROM kv WHERE k = ?", {binary}));
                  EXPECT_TRUE(row.has_value() && row->text(0) == binary);
                  return {};
                }).ok());
}

// The file holds secrets: owner-only whatever the umask, companions (-wal, -shm) too.
TEST_F(SqliteDatabaseTest, FilesAreOwnerOnly) {
  auto db = open();
  ASSERT_TRUE(db->write([](Transaction& tx) -> Status {
                  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO kv (k, v) VALUES ('a', 1)"));
                  return {};
                }).ok());
  for (const char* name : {"test.db", "test.db-wal"}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir_.file(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

}  // namespace
}  // namespace fleetgate::store
