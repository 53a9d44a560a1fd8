#include "pki/signer.h"

#include <gtest/gtest.h>

#include <chrono>

#include "pki/authority.h"
#include "pki/certificate_request.h"
#include "pki/counting_signer.h"
#include "pki/digest.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using namespace std::chrono;
using testing::CountingSigner;
using testing::mustRun;
using testing::run;
using testing::TempDir;
using testing::writeFile;

const TimePoint kNow = floor<seconds>(system_clock::now());

IssueProfile profile(const std::string& common_name, bool is_ca) {
  IssueProfile p;
  p.subject = DistinguishedName{{{"CN", common_name}}};
  p.not_before = kNow - hours(1);
  p.not_after = kNow + hours(24);
  p.is_ca = is_ca;
  return p;
}

class SignerTest : public ::testing::Test {
 protected:
  std::string save(const std::string& file, std::string_view bytes) {
    writeFile(dir_.file(file), bytes);
    return dir_.file(file);
  }

  TempDir dir_;
  SecureRandom random_;
};

TEST_F(SignerTest, SoftwareSignaturesVerifyWithOpenssl) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kRsa2048}) {
    auto key = PrivateKey::generate(type);
    ASSERT_TRUE(key.ok());
    const std::string public_key = save("public.pem", key->publicKeyPem());
    const SoftwareSigner signer(std::move(key).value());
    EXPECT_EQ(signer.algorithm(), type == KeyType::kEcP256 ? SignatureAlgorithm::kEcdsaSha256
                                                           : SignatureAlgorithm::kRsaPkcs1Sha256);
    const std::string data = "to be signed";
    auto signature = signer.sign(data);
    ASSERT_TRUE(signature.ok()) << signature.error().cause();
    // `openssl dgst -verify` expects exactly what X.509 carries: DER ECDSA-Sig-Value or
    // PKCS#1 v1.5 over the SHA-256 digest.
    const std::string command = "openssl dgst -sha256 -verify " + public_key + " -signature ";
    EXPECT_NE(
        mustRun(command + save("sig", *signature) + " " + save("data", data)).find("Verified OK"),
        std::string::npos);
    EXPECT_NE(run(command + dir_.file("sig") + " " + save("other", "other data")).status, 0);
  }
}

TEST_F(SignerTest, CertificatesFromASoftwareSignerVerifyWithOpenssl) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kRsa2048}) {
    auto ca_key = PrivateKey::generate(type);
    ASSERT_TRUE(ca_key.ok());
    auto signer = std::make_shared<SoftwareSigner>(std::move(ca_key).value());
    auto root = CertificateAuthority::selfSign(*signer, profile("Root", true), random_);
    ASSERT_TRUE(root.ok()) << root.error().message() << root.error().cause();
    auto ca = CertificateAuthority::create(*root, signer);
    ASSERT_TRUE(ca.ok()) << ca.error().message();
    auto device_key = PrivateKey::generate(KeyType::kEcP256);
    ASSERT_TRUE(device_key.ok());
    auto leaf = ca->issue(device_key->publicKeyDer(), profile("device", false), random_);
    ASSERT_TRUE(leaf.ok()) << leaf.error().message() << leaf.error().cause();
    const std::string root_pem = save("root.pem", root->pem());
    mustRun("openssl verify -x509_strict -check_ss_sig -CAfile " + root_pem + " " + root_pem);
    mustRun("openssl verify -x509_strict -CAfile " + root_pem + " " +
            save("leaf.pem", leaf->pem()));
    EXPECT_EQ(root->signatureAlgorithm(),
              type == KeyType::kEcP256 ? "ecdsa-with-SHA256" : "sha256WithRSAEncryption");
    EXPECT_EQ(leaf->signatureAlgorithm(), root->signatureAlgorithm());
  }
}

TEST_F(SignerTest, TheAuthorityOnlyEverAsksTheSigner) {
  // The CA below holds nothing but the test double: no PrivateKey reaches it.
  auto signer = CountingSigner::generate(KeyType::kEcP256);
  ASSERT_NE(signer, nullptr);
  auto root = CertificateAuthority::selfSign(*signer, profile("Root", true), random_);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(signer->calls(), 1);
  auto ca = CertificateAuthority::create(*root, signer);
  ASSERT_TRUE(ca.ok()) << ca.error().message();

  auto device_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(device_key.ok());
  auto leaf = ca->issue(device_key->publicKeyDer(), profile("device", false), random_);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(signer->calls(), 2);
  EXPECT_TRUE(leaf->isSignedBy(*root));
  mustRun("openssl verify -x509_strict -CAfile " + save("root.pem", root->pem()) + " " +
          save("leaf.pem", leaf->pem()));

  auto csr = CertificateRequest::createPem(*signer, DistinguishedName{{{"CN", "in a token"}}});
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(signer->calls(), 3);
  auto parsed = CertificateRequest::fromPem(*csr);  // checks the self-signature
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->publicKeyDer(), signer->publicKeyDer());
  EXPECT_NE(mustRun("openssl req -verify -noout -in " + save("token.csr", *csr)).find("verify OK"),
            std::string::npos);
}

// Returns the same bytes whatever it is asked to sign.
class FixedSigner final : public Signer {
 public:
  FixedSigner(std::shared_ptr<const Signer> real, std::string signature)
      : real_(std::move(real)), signature_(std::move(signature)) {}
  std::string publicKeyDer() const override { return real_->publicKeyDer(); }
  SignatureAlgorithm algorithm() const override { return real_->algorithm(); }
  Result<std::string> sign(std::string_view) const override { return signature_; }

 private:
  std::shared_ptr<const Signer> real_;
  std::string signature_;
};

TEST_F(SignerTest, TheCertificateCarriesTheSignersBytesVerbatim) {
  auto real = CountingSigner::generate(KeyType::kEcP256);
  ASSERT_NE(real, nullptr);
  auto root = CertificateAuthority::selfSign(*real, profile("Root", true), random_);
  ASSERT_TRUE(root.ok());
  // Trailing zero bits must not be taken for unused bits of the BIT STRING.
  const std::string signature("\x30\x01\x00", 3);
  const CertificateAuthority ca(*root, std::make_shared<FixedSigner>(real, signature));
  auto device_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(device_key.ok());
  auto leaf = ca.issue(device_key->publicKeyDer(), profile("device", false), random_);
  ASSERT_TRUE(leaf.ok());
  const std::string bit_string = std::string("\x03\x04\x00", 3) + signature;
  EXPECT_TRUE(leaf->der().ends_with(bit_string));
  EXPECT_FALSE(leaf->isSignedBy(*root));
  EXPECT_NE(run("openssl verify -CAfile " + save("root.pem", root->pem()) + " " +
                save("leaf.pem", leaf->pem()))
                .status,
            0);
}

}  // namespace
}  // namespace fleetgate::pki
