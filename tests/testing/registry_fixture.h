#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "pki/authority.h"
#include "pki/digest.h"
#include "pki/issuer.h"
#include "pki/key_pool.h"
#include "registry/registry.h"
#include "registry/schema.h"
#include "store/sqlite_database.h"
#include "testing/seeded_random.h"
#include "testing/temp_dir.h"

namespace fleetgate::testing {

// A registry over a fresh SQLite file, a fake clock and an in-process device CA, with one
// account ready. Records every event it publishes.
class RegistryFixture : public ::testing::Test {
 protected:
  RegistryFixture()
      : clock_(std::chrono::system_clock::now()),
        key_pool_(pki::KeyType::kEcP256, 0),
        device_ca_(makeCa("Test Device CA")),
        device_issuer_(device_ca_, pki::deviceCertificatePolicy(), clock_, random_) {
    auto db = store::SqliteDatabase::open(dir_.path() / "registry.db", registry::migrations());
    EXPECT_TRUE(db.ok());
    db_ = std::move(db).value();
    registry_ = std::make_unique<registry::Registry>(registry::Registry::Dependencies{
        *db_, clock_, random_, device_issuer_, key_pool_, events_, secrets_});
    events_.subscribe([this](const registry::Event& e) { published_.push_back(e); });
    account_ = createAccount("123456789012", "AKIATESTTESTTEST0001");
  }

  registry::Account createAccount(const std::string& id, const std::string& key) {
    auto a = registry_->createAccount(
        {id, "us-east-1", "prefix" + id, key, "secretsecretsecretsecret" + id});
    EXPECT_TRUE(a.ok());
    return a.ok() ? *a : registry::Account{};
  }

  static pki::CertificateAuthority makeCa(const std::string& cn) {
    auto key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
    pki::IssueProfile profile;
    profile.subject.attributes = {{"CN", cn}};
    profile.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
    profile.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
    profile.is_ca = true;
    pki::SecureRandom random;
    auto signer = std::make_shared<pki::SoftwareSigner>(std::move(key).value());
    auto cert = pki::CertificateAuthority::selfSign(*signer, profile, random);
    return pki::CertificateAuthority(*cert, std::move(signer));
  }

  // A leaf certificate for a fresh key, issued by `ca`.
  pki::Certificate issueLeaf(const pki::CertificateAuthority& ca, const std::string& cn,
                             std::chrono::hours valid_for = std::chrono::hours(24)) {
    auto key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
    pki::IssueProfile profile;
    profile.subject.attributes = {{"CN", cn}};
    profile.not_before = clock_.now() - std::chrono::hours(1);
    profile.not_after = clock_.now() + valid_for;
    return *ca.issue(key->publicKeyDer(), profile, random_);
  }

  TempDir dir_;
  FakeClock clock_;
  SeededRandom random_;
  pki::KeyPool key_pool_;
  pki::CertificateAuthority device_ca_;
  pki::Issuer device_issuer_;
  std::unique_ptr<store::SqliteDatabase> db_;
  registry::EventBus events_;
  pki::SecretKeyring secrets_ = pki::SecretKeyring::generate();
  std::unique_ptr<registry::Registry> registry_;
  std::vector<registry::Event> published_;
  registry::Account account_;
};

}  // namespace fleetgate::testing
