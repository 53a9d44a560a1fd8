// Feeds arbitrary control-plane requests (after authentication) through routing, query and
// JSON body parsing and the registry. Input: "METHOD\npath\nquery\nbody".
// Property checked besides "no crash": client input never yields a 5xx answer.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "api/control_plane.h"
#include "pki/authority.h"
#include "pki/digest.h"
#include "pki/issuer.h"
#include "registry/schema.h"
#include "store/sqlite_database.h"

namespace {

using namespace fleetgate;

struct Fixture {
  Fixture() {
    char pattern[] = "/tmp/fleetgate-fuzz-XXXXXX";
    dir = ::mkdtemp(pattern);
    db = std::move(store::SqliteDatabase::open(dir / "registry.db", registry::migrations())).value();
    auto key = std::move(pki::PrivateKey::generate(pki::KeyType::kEcP256)).value();
    pki::IssueProfile profile;
    profile.subject.attributes = {{"CN", "fuzz CA"}};
    profile.not_before = clock.now() - std::chrono::hours(1);
    profile.not_after = clock.now() + std::chrono::hours(24);
    profile.is_ca = true;
    auto signer = std::make_shared<pki::SoftwareSigner>(std::move(key));
    auto cert = std::move(pki::CertificateAuthority::selfSign(*signer, profile, random)).value();
    ca = std::make_unique<pki::CertificateAuthority>(cert, std::move(signer));
    issuer = std::make_unique<pki::Issuer>(*ca, pki::deviceCertificatePolicy(), clock, random);
    registry = std::make_unique<registry::Registry>(
        registry::Registry::Dependencies{*db, clock, random, *issuer, pool, events, secrets});
    account = std::move(registry->createAccount({"123456789012", "us-east-1", "fuzzprefix",
                                                 "AKIAFUZZFUZZFUZZFUZZ", "fuzzsecretfuzzsecret"}))
                  .value();
    control_plane = std::make_unique<api::ControlPlane>(*registry, events, clock, random,
                                                        api::ControlPlaneOptions{});
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  std::filesystem::path dir;
  SystemClock clock;
  pki::SecureRandom random;
  pki::KeyPool pool{pki::KeyType::kEcP256, 0};
  std::unique_ptr<store::SqliteDatabase> db;
  std::unique_ptr<pki::CertificateAuthority> ca;
  std::unique_ptr<pki::Issuer> issuer;
  registry::EventBus events;
  pki::SecretKeyring secrets = pki::SecretKeyring::generate();
  std::unique_ptr<registry::Registry> registry;
  registry::Account account;
  std::unique_ptr<api::ControlPlane> control_plane;
};

std::string_view nextLine(std::string_view& input) {
  auto nl = input.find('\n');
  std::string_view line = input.substr(0, nl);
  input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  http::Request request;
  request.method = std::string(nextLine(input));
  request.path = std::string(nextLine(input));
  request.query = std::string(nextLine(input));
  request.body = std::string(input);
  request.headers.emplace_back("x-amzn-principal",
                               "arn:aws:iot:us-east-1:123456789012:cert/" + std::string(64, 'a'));
  http::Response response = fixture.control_plane->dispatch(request, fixture.account);
  if (response.status >= 500) std::abort();
  return 0;
}
