#pragma once

#include <memory>

#include "cli/data_dir.h"
#include "common/clock.h"
#include "pki/authority.h"
#include "pki/digest.h"
#include "pki/issuer.h"
#include "pki/key_pool.h"
#include "pki/secret_keyring.h"
#include "registry/certificate_index.h"
#include "registry/registry.h"
#include "store/sqlite_database.h"

namespace fleetgate::cli {

// `length` characters drawn from `alphabet` (ids, keys, endpoint prefixes).
std::string randomString(Random& random, std::string_view alphabet, std::size_t length);

// Prints the error for the operator and returns exit code 1: what is wrong around the program
// (kEnvironment) as it is, anything else as its message and internal cause. `hint`, when given,
// follows on a line of its own.
int fail(const Error& error, std::string_view hint = {});

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
// secrets keyring, events and the registry over them. The composition root: nothing else wires
// these. Opening secures the data directory (docs/operations.md) and seals any secret the
// registry still holds in plain text.
class Services {
 public:
  // `secrets_key_file`: the operator's keyring; default: the data directory's secrets.key.
  static Result<std::unique_ptr<Services>> open(
      const DataDir& dir, const Config& config, std::size_t key_pool_size,
      const std::optional<std::filesystem::path>& secrets_key_file = std::nullopt);

  // Creates the config's default account with these keys unless it exists.
  Status ensureDefaultAccount(const Credentials& credentials);

  const Config& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  Random& random() { return random_; }
  registry::EventBus& events() { return events_; }
  registry::Registry& registry() { return *registry_; }
  registry::CertificateIndex& certificateIndex() { return *certificate_index_; }
  // The keyring the registry seals with, and the file it lives in.
  pki::SecretKeyring& secrets() { return secrets_; }
  const std::filesystem::path& secretsKeyFile() const { return secrets_key_file_; }

 private:
  Services(Config config, std::unique_ptr<store::SqliteDatabase> db,
           pki::CertificateAuthority device_ca, std::size_t key_pool_size,
           pki::SecretKeyring secrets, std::filesystem::path secrets_key_file);

  Config config_;
  SystemClock clock_;
  pki::SecureRandom random_;
  std::unique_ptr<store::SqliteDatabase> db_;
  pki::CertificateAuthority device_ca_;
  pki::Issuer device_issuer_;
  pki::KeyPool key_pool_;
  pki::SecretKeyring secrets_;
  std::filesystem::path secrets_key_file_;
  registry::EventBus events_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<registry::CertificateIndex> certificate_index_;
};

// Services over a data directory `fleetgate init` made (for the offline commands).
Result<std::unique_ptr<Services>> openInitialized(
    const std::string& data_dir, const std::optional<std::string>& secrets_key_file);

}  // namespace fleetgate::cli
