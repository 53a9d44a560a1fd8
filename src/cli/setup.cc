#include "cli/setup.h"

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

int fail(const Error& error) {
  std::cerr << "fleetgate: " << error.message();
  if (!error.cause().empty()) std::cerr << " (" << error.cause() << ")";
  std::cerr << "\n";
  return 1;
}

Result<pki::CertificateAuthority> loadCa(const std::filesystem::path& cert,
                                         const std::filesystem::path& key) {
  FG_ASSIGN_OR_RETURN(std::string cert_pem, readFile(cert));
  FG_ASSIGN_OR_RETURN(std::string key_pem, readFile(key));
  FG_ASSIGN_OR_RETURN(auto certificate, pki::Certificate::fromPem(cert_pem));
  FG_ASSIGN_OR_RETURN(auto private_key, pki::PrivateKey::fromPem(key_pem));
  return pki::CertificateAuthority::create(std::move(certificate), std::move(private_key));
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
                   pki::CertificateAuthority device_ca, std::size_t key_pool_size)
    : config_(std::move(config)),
      db_(std::move(db)),
      device_ca_(std::move(device_ca)),
      key_pool_(config_.issued_key_type, key_pool_size) {
  registry_ = std::make_unique<registry::Registry>(registry::Registry::Dependencies{
      *db_, clock_, random_, device_ca_, key_pool_, events_});
  certificate_index_ = std::make_unique<registry::CertificateIndex>(*registry_, events_);
}

Result<std::unique_ptr<Services>> Services::open(const DataDir& dir, const Config& config,
                                                 std::size_t key_pool_size) {
  FG_ASSIGN_OR_RETURN(auto db, store::SqliteDatabase::open(dir.databaseFile(), registry::migrations()));
  FG_ASSIGN_OR_RETURN(auto device_ca, loadCa(dir.deviceCaCertificate(), dir.deviceCaKey()));
  return std::unique_ptr<Services>(
      new Services(config, std::move(db), std::move(device_ca), key_pool_size));
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
