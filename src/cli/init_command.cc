// `fleetgate init`: creates a data directory's registry, CAs, server certificate and default
// account. Safe to run again: what exists is kept, what is missing is created.
#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "cli/setup.h"
#include "pki/authority.h"
#include "pki/digest.h"
#include "registry/schema.h"
#include "store/sqlite_database.h"

namespace fleetgate::cli {
namespace {

using std::chrono::hours;

TimePoint endOf(int year_number) {
  using namespace std::chrono;
  return sys_days{year{year_number} / January / 1} - seconds{1};
}

// Loads the CA in `cert`/`key`, or creates a self-signed one there.
Result<pki::CertificateAuthority> ensureRootCa(const std::filesystem::path& cert,
                                               const std::filesystem::path& key,
                                               pki::KeyType type, const std::string& common_name,
                                               TimePoint not_after, Random& random) {
  if (std::filesystem::exists(cert) && std::filesystem::exists(key)) return loadCa(cert, key);
  FG_ASSIGN_OR_RETURN(auto private_key, pki::PrivateKey::generate(type));
  pki::IssueProfile profile;
  profile.subject.attributes = {{"O", "fleetgate"}, {"CN", common_name}};
  profile.not_before = std::chrono::system_clock::now() - hours(1);
  profile.not_after = not_after;
  profile.is_ca = true;
  const std::string private_key_pem = private_key.privateKeyPem();
  auto signer = std::make_shared<pki::SoftwareSigner>(std::move(private_key));
  FG_ASSIGN_OR_RETURN(auto certificate,
                      pki::CertificateAuthority::selfSign(*signer, profile, random));
  FG_RETURN_IF_ERROR(writeNewFile(key, private_key_pem, 0600));
  FG_RETURN_IF_ERROR(writeNewFile(cert, certificate.pem(), 0644));
  return pki::CertificateAuthority(certificate, std::move(signer));
}

Status ensureServerCertificate(const DataDir& dir, const pki::CertificateAuthority& root,
                               const Config& config, Random& random) {
  if (std::filesystem::exists(dir.serverCertificate()) && std::filesystem::exists(dir.serverKey())) {
    return {};
  }
  FG_ASSIGN_OR_RETURN(auto key, pki::PrivateKey::generate(pki::KeyType::kEcP256));
  pki::IssueProfile profile;
  profile.subject.attributes = {{"O", "fleetgate"}, {"CN", "fleetgate server"}};
  profile.not_before = std::chrono::system_clock::now() - hours(1);
  profile.not_after = std::chrono::system_clock::now() + hours(24 * 825);
  profile.server_auth = true;
  profile.dns_names = {"localhost", config.domain, "*." + config.domain,
                       "*.iot." + config.region + "." + config.domain};
  profile.ip_addresses = {"127.0.0.1", "::1"};
  FG_ASSIGN_OR_RETURN(auto cert, root.issue(key.publicKeyDer(), profile, random));
  FG_RETURN_IF_ERROR(writeNewFile(dir.serverKey(), key.privateKeyPem(), 0600));
  return writeNewFile(dir.serverCertificate(), cert.pem(), 0644);
}

pki::KeyType keyTypeOf(const std::string& name) {
  return name == "ec" ? pki::KeyType::kEcP256 : pki::KeyType::kRsa2048;
}

// The first option given explicitly that differs from what an initialized directory holds.
std::optional<std::string> conflictingOption(const InitOptions& o, const Config& config,
                                             const DataDir& dir) {
  auto differs = [](const auto& given, const auto& held) { return given && *given != held; };
  if (differs(o.account_id, config.default_account_id)) return "account id";
  if (differs(o.region, config.region)) return "region";
  if (differs(o.domain, config.domain)) return "domain";
  if (differs(o.endpoint_prefix, config.endpoint_prefix)) return "endpoint prefix";
  if (differs(o.api_port, config.api_port)) return "API port";
  if (o.issued_key_type && keyTypeOf(*o.issued_key_type) != config.issued_key_type) {
    return "issued key type";
  }
  if (o.access_key_id || o.secret_access_key) {
    auto held = readCredentials(dir.credentialsFile());
    if (held.ok() && (differs(o.access_key_id, held->access_key_id) ||
                      differs(o.secret_access_key, held->secret_access_key))) {
      return "access key";
    }
  }
  return std::nullopt;
}

void printUsage(const DataDir& dir, const Config& config) {
  std::cout << "fleetgate data directory: " << dir.root().string() << "\n"
            << "account " << config.default_account_id << " in region " << config.region << "\n\n"
            << "Use it with the AWS CLI:\n"
            << "  export AWS_SHARED_CREDENTIALS_FILE=" << dir.credentialsFile().string() << "\n"
            << "  aws iot list-things --endpoint-url https://127.0.0.1:" << config.api_port
            << " --ca-bundle " << dir.serverRootCertificate().string() << "\n"
            << "or copy the keys from " << dir.credentialsFile().string()
            << " into `aws configure`.\n"
            << "Devices trust " << dir.serverRootCertificate().string() << " as the server root CA.\n";
}

}  // namespace

int runInit(const InitOptions& options) {
  DataDir dir(options.data_dir);
  pki::SecureRandom random;
  if (auto secured = dir.secure(); !secured.ok()) return fail(secured.error());

  Config config;
  if (dir.initialized()) {
    auto loaded = dir.loadConfig();
    if (!loaded.ok()) return fail(loaded.error());
    config = *loaded;
    if (auto conflict = conflictingOption(options, config, dir)) {
      std::cerr << "fleetgate: " << dir.root().string() << " is already initialized with another "
                << *conflict << "; not changing it.\n";
      return 1;
    }
  } else {
    config.default_account_id = options.account_id.value_or(randomString(random, "0123456789", 12));
    config.region = options.region.value_or("us-east-1");
    config.domain = options.domain.value_or("localhost");
    config.endpoint_prefix = options.endpoint_prefix.value_or(
        randomString(random, "abcdefghijklmnopqrstuvwxyz0123456789", 14));
    config.api_port = options.api_port.value_or(9443);
    config.issued_key_type = keyTypeOf(options.issued_key_type.value_or("rsa"));
  }

  // The credentials are written before the account exists, so a second run after a crash
  // registers the same keys the first run showed.
  if (!std::filesystem::exists(dir.credentialsFile())) {
    std::string key_id = options.access_key_id.value_or(
        "AKIA" + randomString(random, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    std::string secret = options.secret_access_key.value_or(randomString(
        random, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40));
    if (auto s = writeCredentials(dir.credentialsFile(), {key_id, secret, config.region}); !s.ok()) {
      return fail(s.error());
    }
  }
  if (!dir.initialized()) {
    if (auto s = dir.saveConfig(config); !s.ok()) return fail(s.error());
  }

  auto device_ca = ensureRootCa(dir.deviceCaCertificate(), dir.deviceCaKey(),
                                options.ca_key_type == "rsa" ? pki::KeyType::kRsa2048
                                                             : pki::KeyType::kEcP256,
                                "fleetgate Device CA", endOf(2055), random);
  if (!device_ca.ok()) return fail(device_ca.error());
  auto server_root = ensureRootCa(dir.serverRootCertificate(), dir.serverRootKey(),
                                  pki::KeyType::kEcP256, "fleetgate Server Root CA", endOf(2055),
                                  random);
  if (!server_root.ok()) return fail(server_root.error());
  if (auto s = ensureServerCertificate(dir, *server_root, config, random); !s.ok()) {
    return fail(s.error());
  }

  std::optional<std::filesystem::path> secrets_key_file;
  if (options.secrets_key_file) secrets_key_file = *options.secrets_key_file;
  auto services = Services::open(dir, config, 0, secrets_key_file);
  if (!services.ok()) return fail(services.error());
  auto credentials = readCredentials(dir.credentialsFile());
  if (!credentials.ok()) return fail(credentials.error());
  if (auto s = (*services)->ensureDefaultAccount(*credentials); !s.ok()) return fail(s.error());
  printUsage(dir, config);
  return 0;
}

}  // namespace fleetgate::cli
