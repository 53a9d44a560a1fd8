#include "store/database_conformance.h"
#include "store/sqlite_database.h"
#include "testing/temp_dir.h"

namespace fleetgate::store::conformance {
namespace {

struct SqliteBackend {
  testing::TempDir dir;

  Result<std::unique_ptr<Database>> open(std::span<const Migration> migrations) {
    FG_ASSIGN_OR_RETURN(auto db, SqliteDatabase::open(dir.path() / "test.db", migrations));
    return std::unique_ptr<Database>(std::move(db));
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, DatabaseConformance, SqliteBackend);

}  // namespace
}  // namespace fleetgate::store::conformance
