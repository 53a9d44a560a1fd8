#include "pki/issuer.h"

#include <gtest/gtest.h>

#include <chrono>

#include "pki/counting_signer.h"
#include "pki/digest.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using namespace std::chrono;
using testing::CountingSigner;
using testing::mustRun;
using testing::readFile;
using testing::TempDir;
using testing::writeFile;

const TimePoint kStart = floor<seconds>(system_clock::now());
const TimePoint kEndOf2049 =
    sys_days{year{2049} / December / 31} + hours(23) + minutes(59) + seconds(59);

CertificateAuthority makeCa(std::shared_ptr<CountingSigner> signer, Random& random) {
  IssueProfile profile;
  profile.subject = DistinguishedName{{{"CN", "Device CA"}}};
  profile.not_before = kStart - hours(1);
  profile.not_after = kStart + hours(24 * 365);
  profile.is_ca = true;
  auto certificate = CertificateAuthority::selfSign(*signer, profile, random);
  EXPECT_TRUE(certificate.ok());
  return CertificateAuthority(std::move(certificate).value(), std::move(signer));
}

std::string generatedKeyDer(KeyType type) {
  auto key = PrivateKey::generate(type);
  EXPECT_TRUE(key.ok());
  return key->publicKeyDer();
}

class IssuerTest : public ::testing::Test {
 protected:
  IssuerTest()
      : signer_(CountingSigner::generate(KeyType::kEcP256)), ca_(makeCa(signer_, random_)) {}

  // A request every rule of `policy()` accepts.
  IssueRequest goodRequest() const {
    IssueRequest request;
    request.public_key_der = device_key_der_;
    request.subject = DistinguishedName{{{"CN", "device-1"}}};
    return request;
  }
  // Permissive enough that each test relaxes or breaks one rule at a time.
  static IssuancePolicy policy() {
    IssuancePolicy p;
    p.latest_not_after = kStart + hours(24 * 90);
    p.allow_subject_alt_names = true;
    p.allow_ca = true;
    p.max_path_length = 0;
    return p;
  }
  // Refused by the issuer with a message containing `words`, and nothing was signed.
  void expectRefused(const IssuancePolicy& p, const IssueRequest& request,
                     const std::string& words) {
    const int calls_before = signer_->calls();
    auto certificate = Issuer(ca_, p, clock_, random_).issue(request);
    ASSERT_FALSE(certificate.ok()) << words;
    EXPECT_EQ(certificate.error().kind(), ErrorKind::kInvalidRequest) << words;
    EXPECT_NE(certificate.error().message().find(words), std::string::npos)
        << certificate.error().message();
    EXPECT_EQ(signer_->calls(), calls_before) << "signed although refused: " << words;
  }
  std::string save(const std::string& file, std::string_view bytes) {
    writeFile(dir_.file(file), bytes);
    return dir_.file(file);
  }

  TempDir dir_;
  FakeClock clock_{kStart};
  SecureRandom random_;
  std::shared_ptr<CountingSigner> signer_;
  CertificateAuthority ca_;
  const std::string device_key_der_ = generatedKeyDer(KeyType::kEcP256);
};

TEST_F(IssuerTest, DeviceCertificatesHaveTheAwsProfile) {
  const Issuer issuer(ca_, deviceCertificatePolicy(), clock_, random_);
  IssueRequest request;
  request.public_key_der = device_key_der_;
  request.subject = DistinguishedName{{{"CN", "what the device asked for"}}};
  auto certificate = issuer.issue(request);
  ASSERT_TRUE(certificate.ok()) << certificate.error().message() << certificate.error().cause();
  EXPECT_EQ(certificate->subject().toString(), "CN=AWS IoT Certificate");
  EXPECT_EQ(certificate->notBefore(), kStart - hours(1));
  EXPECT_EQ(certificate->notAfter(), kEndOf2049);
  EXPECT_FALSE(certificate->isCa());
  EXPECT_EQ(certificate->publicKeyDer(), device_key_der_);
  EXPECT_TRUE(certificate->isSignedBy(ca_.certificate()));
  const std::string file = save("device.pem", certificate->pem());
  mustRun("openssl verify -x509_strict -purpose sslclient -CAfile " +
          save("ca.pem", ca_.certificate().pem()) + " " + file);
  EXPECT_NE(mustRun("openssl x509 -noout -ext extendedKeyUsage -in " + file)
                .find("TLS Web Client Authentication"),
            std::string::npos);
}

TEST_F(IssuerTest, CsrsAreLimitedParsedAndVerifiedBeforeSigning) {
  const Issuer issuer(ca_, deviceCertificatePolicy(), clock_, random_);
  auto device_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(device_key.ok());
  auto csr = CertificateRequest::createPem(*device_key, DistinguishedName{{{"CN", "chip-7"}}});
  ASSERT_TRUE(csr.ok());
  auto certificate = issuer.issueForCsr(*csr);
  ASSERT_TRUE(certificate.ok()) << certificate.error().message();
  EXPECT_EQ(certificate->publicKeyDer(), device_key->publicKeyDer());
  EXPECT_EQ(certificate->subject().toString(), "CN=AWS IoT Certificate");
  const int calls = signer_->calls();

  for (const std::string& too_long : {std::string(), *csr + std::string(4096, '\n')}) {
    auto refused = issuer.issueForCsr(too_long);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().kind(), ErrorKind::kInvalidRequest);
    EXPECT_EQ(refused.error().message(),
              "certificateSigningRequest must be 1 to 4096 characters long.");
  }
  auto garbage = issuer.issueForCsr(
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind(), ErrorKind::kInvalidRequest);
  EXPECT_EQ(signer_->calls(), calls);
}

TEST_F(IssuerTest, KeyRuleRefusesWeakKeys) {
  mustRun("openssl genrsa -out " + dir_.file("weak.key") + " 1024");
  mustRun("openssl rsa -in " + dir_.file("weak.key") + " -pubout -outform DER -out " +
          dir_.file("weak.der"));
  IssueRequest weak = goodRequest();
  weak.public_key_der = readFile(dir_.file("weak.der"));
  expectRefused(policy(), weak, "RSA keys must be at least 2048 bits");

  IssueRequest rsa_2048 = goodRequest();
  rsa_2048.public_key_der = generatedKeyDer(KeyType::kRsa2048);
  IssuancePolicy strict = policy();
  strict.min_rsa_bits = 3072;
  expectRefused(strict, rsa_2048, "RSA keys must be at least 3072 bits");
  EXPECT_TRUE(Issuer(ca_, policy(), clock_, random_).issue(rsa_2048).ok());

  IssueRequest garbage = goodRequest();
  garbage.public_key_der = "not a key";
  expectRefused(policy(), garbage, "public key could not be parsed");
}

TEST_F(IssuerTest, NameRulesRefuseBadOrUnwantedAltNames) {
  IssueRequest bad_dns = goodRequest();
  bad_dns.dns_names = {"has space.example.com"};
  expectRefused(policy(), bad_dns, "invalid DNS name");
  IssueRequest bad_ip = goodRequest();
  bad_ip.ip_addresses = {"300.1.2.3"};
  expectRefused(policy(), bad_ip, "invalid IP address");

  IssueRequest named = goodRequest();
  named.dns_names = {"device-1.example.com"};
  named.ip_addresses = {"192.0.2.7"};
  IssuancePolicy no_alt_names = policy();
  no_alt_names.allow_subject_alt_names = false;
  expectRefused(no_alt_names, named, "subject alternative names are not allowed");
  auto certificate = Issuer(ca_, policy(), clock_, random_).issue(named);
  ASSERT_TRUE(certificate.ok()) << certificate.error().message();
  EXPECT_EQ(certificate->subjectAltNames().dns, named.dns_names);
  EXPECT_EQ(certificate->subjectAltNames().ip, named.ip_addresses);

  IssueRequest anonymous = goodRequest();
  anonymous.subject = {};
  expectRefused(policy(), anonymous, "needs a subject or subject alternative names");
}

TEST_F(IssuerTest, ValidityRuleCapsTheRequestedEnd) {
  IssueRequest too_long = goodRequest();
  too_long.not_after = policy().latest_not_after + seconds(1);
  expectRefused(policy(), too_long, "ends later than this CA allows");
  IssueRequest ended = goodRequest();
  ended.not_after = kStart;
  expectRefused(policy(), ended, "has already ended");

  const Issuer issuer(ca_, policy(), clock_, random_);
  IssueRequest short_lived = goodRequest();
  short_lived.not_after = kStart + hours(24);
  auto certificate = issuer.issue(short_lived);
  ASSERT_TRUE(certificate.ok());
  EXPECT_EQ(certificate->notAfter(), kStart + hours(24));
  auto by_default = issuer.issue(goodRequest());
  ASSERT_TRUE(by_default.ok());
  EXPECT_EQ(by_default->notAfter(), policy().latest_not_after);
}

TEST_F(IssuerTest, CaRulesRefuseCaRequestsWhereNotAllowed) {
  IssueRequest sub_ca = goodRequest();
  sub_ca.is_ca = true;
  sub_ca.path_length = 0;
  IssuancePolicy leaves_only = policy();
  leaves_only.allow_ca = false;
  expectRefused(leaves_only, sub_ca, "does not issue CA certificates");
  expectRefused(deviceCertificatePolicy(), sub_ca, "does not issue CA certificates");

  IssueRequest unbounded = sub_ca;
  unbounded.path_length.reset();
  expectRefused(policy(), unbounded, "path length of at most 0");
  IssueRequest too_deep = sub_ca;
  too_deep.path_length = 1;
  expectRefused(policy(), too_deep, "path length of at most 0");
  IssueRequest leaf_with_path = goodRequest();
  leaf_with_path.path_length = 0;
  expectRefused(policy(), leaf_with_path, "only a CA certificate has a path length");

  auto certificate = Issuer(ca_, policy(), clock_, random_).issue(sub_ca);
  ASSERT_TRUE(certificate.ok()) << certificate.error().message();
  EXPECT_TRUE(certificate->isCa());
}

TEST_F(IssuerTest, RulesRunInAFixedOrderThenTheProfileThenTheSigner) {
  // Breaks every rule; mending one at a time exposes the next in the documented order.
  IssueRequest request = goodRequest();
  request.public_key_der = "not a key";
  request.dns_names = {"bad name"};
  request.not_after = policy().latest_not_after + hours(1);
  request.is_ca = true;
  IssuancePolicy p = policy();
  p.allow_ca = false;

  expectRefused(p, request, "public key");
  request.public_key_der = device_key_der_;
  expectRefused(p, request, "invalid DNS name");
  request.dns_names = {"good.example.com"};
  expectRefused(p, request, "ends later than this CA allows");
  request.not_after.reset();
  expectRefused(p, request, "does not issue CA certificates");
  request.is_ca = false;

  // The profile comes after the rules: its subject replaces the requested one.
  p.subject = DistinguishedName{{{"CN", "chosen by the policy"}}};
  EXPECT_EQ(signer_->calls(), 1);  // the CA's own self-signature
  auto certificate = Issuer(ca_, p, clock_, random_).issue(request);
  ASSERT_TRUE(certificate.ok()) << certificate.error().message();
  EXPECT_EQ(signer_->calls(), 2);
  EXPECT_EQ(certificate->subject().toString(), "CN=chosen by the policy");
  EXPECT_EQ(certificate->subjectAltNames().dns, request.dns_names);
}

TEST_F(IssuerTest, TheClockDecidesNotBefore) {
  IssuancePolicy p = policy();
  p.backdate = minutes(5);
  const Issuer issuer(ca_, p, clock_, random_);
  clock_.advance(hours(2));
  auto certificate = issuer.issue(goodRequest());
  ASSERT_TRUE(certificate.ok());
  EXPECT_EQ(certificate->notBefore(), kStart + hours(2) - minutes(5));
}

}  // namespace
}  // namespace fleetgate::pki
