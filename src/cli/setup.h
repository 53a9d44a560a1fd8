#pragma once

#include <memory>

#include "cli/data_dir.h"
#include "common/clock.h"
#include "pki/authority.h"
#include "pki/digest.h"
#include "pki/key_pool.h"
#include "registry/certificate_index.h"
#include "registry/registry.h"
#include "store/sqlite_database.h"

namespace fleetgate::cli {

// `length` characters drawn from `alphabet` (ids, keys, endpoint prefixes).
std::string randomString(Random& random, std::string_view alphabet, std::size_t length);

// Prints the error for the operator (message and internal cause) and returns exit code 1.
int fail(const Error& error);

Result<pki::CertificateAuthority> loadCa(const std::filesystem::path& cert,
                                         const std::filesystem::path& key);

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region;
};
// An AWS shared-credentials file ([default] profile), mode 0600.
Status writeCredentials(const std::filesystem::path& path, const Credentials& credentials);
Result<Credentials> readCredentials(const std::filesystem::path& path);

// The object graph every command works on: store, clock, randomness, device CA, key pool,
// events and the registry over them. The composition root: nothing else wires these.
class Services {
 public:
  static Result<std::unique_ptr<Services>> open(const DataDir& dir, const Config& config,
                                                std::size_t key_pool_size);

  // Creates the config's default account with these keys unless it exists.
  Status ensureDefaultAccount(const Credentials& credentials);

  const Config& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  Random& random() { return random_; }
  registry::EventBus& events() { return events_; }
  registry::Registry& registry() { return *registry_; }
  registry::CertificateIndex& certificateIndex() { return *certificate_index_; }

 private:
  Services(Config config, std::unique_ptr<store::SqliteDatabase> db,
           pki::CertificateAuthority device_ca, std::size_t key_pool_size);

  Config config_;
  SystemClock clock_;
  pki::SecureRandom random_;
  std::unique_ptr<store::SqliteDatabase> db_;
  pki::CertificateAuthority device_ca_;
  pki::KeyPool key_pool_;
  registry::EventBus events_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<registry::CertificateIndex> certificate_index_;
};

}  // namespace fleetgate::cli
