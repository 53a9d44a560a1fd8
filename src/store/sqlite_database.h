#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "store/database.h"

namespace fleetgate::store {

// SQLite in WAL mode with synchronous=FULL, so an acknowledged write survives a crash.
// Writes go through one connection (SQLite serializes writers anyway); reads use a small pool
// of connections that run beside the writer.
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
  std::unique_ptr<Connection> writer_;
  std::mutex writer_mutex_;
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
};

}  // namespace fleetgate::store
