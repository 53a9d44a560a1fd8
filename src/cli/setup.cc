#include "cli/setup.h"

#include <sys/stat.h>

#include <cerrno>
#include <iostream>
#include <sstream>

#include "registry/schema.h"

namespace fleetgate::cli {

std::string randomString(Random& random, std::string_view alphabet, std::size_t length) {
  std::string out;
  std::vector<std::uint8_t> bytes(length);
  // Rejection sampling keeps every character equally likely.
  const std::size_t limit = 256 - 256 % alphabet.size();
  while (out.size() < length) {
    random.fill(bytes);
    for (auto b : bytes) {
      if (b < limit && out.size() < length) out.push_back(alphabet[b % alphabet.size()]);
    }
  }
  return out;
}

int fail(const Error& error, std::string_view hint) {
  if (error.kind() == ErrorKind::kEnvironment) {
    std::cerr << "fleetgate: " << error.cause();
  } else {
    std::cerr << "fleetgate: " << error.message();
    if (!error.cause().empty()) std::cerr << " (" << error.cause() << ")";
  }
  std::cerr << "\n";
  if (!hint.empty()) std::cerr << hint << "\n";
  return 1;
}

Result<pki::CertificateAuthority> loadCa(const std::filesystem::path& cert,
                                         const std::filesystem::path& key) {
  FG_ASSIGN_OR_RETURN(std::string cert_pem, readFile(cert));
  FG_ASSIGN_OR_RETURN(std::string key_pem, readFile(key));
  FG_ASSIGN_OR_RETURN(auto certificate, pki::Certificate::fromPem(cert_pem));
  FG_ASSIGN_OR_RETURN(auto private_key, pki::PrivateKey::fromPem(key_pem));
  return pki::CertificateAuthority::create(
      std::move(certificate), std::make_shared<pki::SoftwareSigner>(std::move(private_key)));
}

Status writeCredentials(const std::filesystem::path& path, const Credentials& c) {
  std::string text = "[default]\naws_access_key_id = " + c.access_key_id +
                     "\naws_secret_access_key = " + c.secret_access_key +
                     "\nregion = " + c.region + "\n";
  return writeNewFile(path, text, 0600);
}

Result<Credentials> readCredentials(const std::filesystem::path& path) {
  FG_ASSIGN_OR_RETURN(std::string text, readFile(path));
  Credentials c;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "region") c.region = value;
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return internalError(path.string() + " holds no access key");
  }
  return c;
}

Services::Services(Config config, std::unique_ptr<store::SqliteDatabase> db,
                   pki::CertificateAuthority device_ca, std::size_t key_pool_size,
                   pki::SecretKeyring secrets, std::filesystem::path secrets_key_file)
    : config_(std::move(config)),
      db_(std::move(db)),
      device_ca_(std::move(device_ca)),
      device_issuer_(device_ca_, pki::deviceCertificatePolicy(), clock_, random_),
      key_pool_(config_.issued_key_type, key_pool_size),
      secrets_(std::move(secrets)),
      secrets_key_file_(std::move(secrets_key_file)) {
  registry_ = std::make_unique<registry::Registry>(registry::Registry::Dependencies{
      *db_, clock_, random_, device_issuer_, key_pool_, events_, secrets_});
  certificate_index_ = std::make_unique<registry::CertificateIndex>(*registry_, events_);
}

namespace {

// The keyring in `file`, which must hold every key the database's secrets are sealed with. A
// missing file is created only while the database holds no sealed secret: a new key could not
// open them, and the operator must restore the old one instead.
Result<pki::SecretKeyring> loadSecrets(const std::filesystem::path& file, bool operators_file,
                                       store::Database& db) {
  FG_ASSIGN_OR_RETURN(auto used, registry::sealedSecretKeyIds(db));
  std::erase(used, std::string());  // not sealed yet
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno != ENOENT) return environmentError("cannot read " + file.string(), errno);
    if (!used.empty()) {
      return environmentError(file.string() + " does not exist, but the registry's secrets are " +
                              "sealed with key " + used.front() +
                              ": restore the secrets key file that sealed them");
    }
    auto created = pki::SecretKeyring::generate();
    FG_RETURN_IF_ERROR(writeNewFile(file, created.serialize(), 0600));
    return created;
  }
  if (operators_file && (st.st_mode & 077) != 0) {
    return environmentError(file.string() + " can be read by other users; chmod 600 it");
  }
  FG_ASSIGN_OR_RETURN(std::string text, readFile(file));
  auto ring = pki::SecretKeyring::parse(text);
  if (!ring.ok()) return environmentError(file.string() + ": " + ring.error().message());
  for (const std::string& id : used) {
    if (!ring->holds(id)) {
      return environmentError("the registry's secrets are sealed with key " + id + ", which " +
                              file.string() + " does not hold: give the key file that sealed them");
    }
  }
  return std::move(ring).value();
}

}  // namespace

Result<std::unique_ptr<Services>> Services::open(
    const DataDir& dir, const Config& config, std::size_t key_pool_size,
    const std::optional<std::filesystem::path>& secrets_key_file) {
  FG_RETURN_IF_ERROR(dir.secure());
  FG_ASSIGN_OR_RETURN(auto db, store::SqliteDatabase::open(dir.databaseFile(), registry::migrations()));
  const std::filesystem::path key_file = secrets_key_file.value_or(dir.secretsKeyFile());
  FG_ASSIGN_OR_RETURN(auto secrets, loadSecrets(key_file, secrets_key_file.has_value(), *db));
  FG_ASSIGN_OR_RETURN(auto device_ca, loadCa(dir.deviceCaCertificate(), dir.deviceCaKey()));
  std::unique_ptr<Services> services(new Services(config, std::move(db), std::move(device_ca),
                                                  key_pool_size, std::move(secrets), key_file));
  // Secrets stored in plain text by an older fleetgate are sealed now.
  FG_RETURN_IF_ERROR(services->registry().resealSecrets());
  return services;
}

Result<std::unique_ptr<Services>> openInitialized(
    const std::string& data_dir, const std::optional<std::string>& secrets_key_file) {
  DataDir dir(data_dir);
  if (!dir.initialized()) {
    return Error(ErrorKind::kInvalidRequest, data_dir + " is not initialized; run fleetgate init");
  }
  FG_ASSIGN_OR_RETURN(auto config, dir.loadConfig());
  std::optional<std::filesystem::path> key_file;
  if (secrets_key_file) key_file = *secrets_key_file;
  return Services::open(dir, config, 0, key_file);
}

Status Services::ensureDefaultAccount(const Credentials& credentials) {
  auto existing = registry_->account(config_.default_account_id);
  if (existing.ok()) return {};
  FG_RETURN_IF_ERROR(
      registry_->createAccount({config_.default_account_id, config_.region, config_.endpoint_prefix,
                                credentials.access_key_id, credentials.secret_access_key}));
  return {};
}

}  // namespace fleetgate::cli
