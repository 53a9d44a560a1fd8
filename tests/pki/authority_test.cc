#include "pki/authority.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "pki/digest.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using namespace std::chrono;
using testing::mustRun;
using testing::readFile;
using testing::run;
using testing::TempDir;
using testing::writeFile;

// Repeats one byte, so serial handling can be checked exactly.
class ConstantRandom final : public Random {
 public:
  explicit ConstantRandom(std::uint8_t byte) : byte_(byte) {}
  void fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), byte_); }

 private:
  std::uint8_t byte_;
};

DistinguishedName name(std::initializer_list<std::pair<std::string, std::string>> attributes) {
  return DistinguishedName{{attributes.begin(), attributes.end()}};
}

const TimePoint kNow = floor<seconds>(system_clock::now());

IssueProfile caProfile(const std::string& common_name, std::optional<int> path_length = {}) {
  IssueProfile profile;
  profile.subject = name({{"O", "Acme"}, {"CN", common_name}});
  profile.not_before = kNow - hours(1);
  profile.not_after = kNow + hours(24 * 365);
  profile.is_ca = true;
  profile.path_length = path_length;
  return profile;
}

IssueProfile leafProfile(const std::string& common_name) {
  IssueProfile profile;
  profile.subject = name({{"CN", common_name}});
  profile.not_before = kNow - hours(1);
  profile.not_after = kNow + hours(24 * 30);
  return profile;
}

CertificateAuthority makeRoot(KeyType type, const std::string& common_name, Random& random) {
  auto key = PrivateKey::generate(type);
  EXPECT_TRUE(key.ok());
  auto signer = std::make_shared<SoftwareSigner>(std::move(key).value());
  auto certificate = CertificateAuthority::selfSign(*signer, caProfile(common_name), random);
  EXPECT_TRUE(certificate.ok()) << certificate.error().message() << certificate.error().cause();
  return CertificateAuthority(std::move(certificate).value(), std::move(signer));
}

CertificateAuthority makeIntermediate(const CertificateAuthority& parent,
                                      const std::string& common_name, Random& random) {
  auto key = PrivateKey::generate(KeyType::kEcP256);
  EXPECT_TRUE(key.ok());
  auto certificate = parent.issue(key->publicKeyDer(), caProfile(common_name, 0), random);
  EXPECT_TRUE(certificate.ok()) << certificate.error().message() << certificate.error().cause();
  return CertificateAuthority(std::move(certificate).value(),
                              std::make_shared<SoftwareSigner>(std::move(key).value()));
}

Certificate issueLeaf(const CertificateAuthority& ca, const IssueProfile& profile, Random& random,
                      KeyType type = KeyType::kEcP256) {
  auto key = PrivateKey::generate(type);
  EXPECT_TRUE(key.ok());
  auto certificate = ca.issue(key->publicKeyDer(), profile, random);
  EXPECT_TRUE(certificate.ok()) << certificate.error().message() << certificate.error().cause();
  return std::move(certificate).value();
}

class AuthorityTest : public ::testing::Test {
 protected:
  std::string save(const std::string& file, const Certificate& certificate) {
    writeFile(dir_.file(file), certificate.pem());
    return dir_.file(file);
  }
  std::string text(const Certificate& certificate) {
    return mustRun("openssl x509 -noout -text -in " + save("text.pem", certificate));
  }

  TempDir dir_;
  SecureRandom random_;
};

TEST_F(AuthorityTest, IssuedChainVerifiesWithOpenssl) {
  for (KeyType root_type : {KeyType::kEcP256, KeyType::kRsa2048}) {
    const CertificateAuthority root = makeRoot(root_type, "Root", random_);
    const CertificateAuthority intermediate = makeIntermediate(root, "Intermediate", random_);
    const Certificate leaf = issueLeaf(intermediate, leafProfile("device-1"), random_);
    const std::string root_pem = save("root.pem", root.certificate());
    const std::string intermediate_pem = save("intermediate.pem", intermediate.certificate());
    const std::string leaf_pem = save("leaf.pem", leaf);
    mustRun("openssl verify -x509_strict -CAfile " + root_pem + " -untrusted " + intermediate_pem +
            " " + leaf_pem);
    mustRun("openssl verify -x509_strict -CAfile " + root_pem + " " + intermediate_pem);
    // Without the intermediate the leaf must not verify: the CLI is really checking.
    EXPECT_NE(run("openssl verify -CAfile " + root_pem + " " + leaf_pem).status, 0);

    EXPECT_EQ(root.certificate().signatureAlgorithm(),
              root_type == KeyType::kEcP256 ? "ecdsa-with-SHA256" : "sha256WithRSAEncryption");
    EXPECT_TRUE(root.certificate().checkAcceptable().ok());
    EXPECT_TRUE(leaf.checkAcceptable().ok());
    EXPECT_TRUE(leaf.isSignedBy(intermediate.certificate()));
    EXPECT_TRUE(intermediate.certificate().isSignedBy(root.certificate()));
    EXPECT_FALSE(leaf.isSignedBy(root.certificate()));
  }
}

TEST_F(AuthorityTest, CertificateFieldsAndExtensions) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  const std::string root_text = text(root.certificate());
  EXPECT_NE(root_text.find("Version: 3 (0x2)"), std::string::npos);
  EXPECT_NE(root_text.find("X509v3 Basic Constraints: critical\n                CA:TRUE"),
            std::string::npos)
      << root_text;
  EXPECT_NE(root_text.find("X509v3 Key Usage: critical\n                Digital Signature, "
                           "Certificate Sign, CRL Sign"),
            std::string::npos)
      << root_text;
  EXPECT_EQ(root_text.find("Extended Key Usage"), std::string::npos);
  EXPECT_TRUE(root.certificate().isCa());
  EXPECT_TRUE(root.certificate().isSelfIssued());

  IssueProfile profile = leafProfile("device-1");
  profile.dns_names = {"device-1.example.com"};
  profile.ip_addresses = {"192.0.2.7", "2001:db8::7"};
  const Certificate leaf = issueLeaf(root, profile, random_, KeyType::kRsa2048);
  const std::string leaf_text = text(leaf);
  EXPECT_NE(leaf_text.find("CA:FALSE"), std::string::npos);
  EXPECT_NE(leaf_text.find("Digital Signature, Key Encipherment"), std::string::npos) << leaf_text;
  EXPECT_NE(leaf_text.find("TLS Web Client Authentication"), std::string::npos);
  EXPECT_NE(leaf_text.find("X509v3 Subject Key Identifier"), std::string::npos);
  EXPECT_NE(leaf_text.find("X509v3 Authority Key Identifier"), std::string::npos);
  EXPECT_FALSE(leaf.isCa());
  EXPECT_TRUE(leaf.checkAcceptable().ok());
  EXPECT_EQ(leaf.signatureAlgorithm(), "ecdsa-with-SHA256");
  EXPECT_EQ(leaf.subject().toString(), "CN=device-1");
  EXPECT_EQ(leaf.issuer().toString(), "CN=Root,O=Acme");
  EXPECT_EQ(leaf.issuerNameDer(), root.certificate().subjectNameDer());
  EXPECT_EQ(leaf.notBefore(), profile.not_before);
  EXPECT_EQ(leaf.notAfter(), profile.not_after);
  const SubjectAltNames names = leaf.subjectAltNames();
  EXPECT_EQ(names.dns, profile.dns_names);
  EXPECT_EQ(names.ip, profile.ip_addresses);

  // The leaf's AKI is the root's SKI.
  const auto akid = leaf_text.find("X509v3 Authority Key Identifier");
  const auto skid = root_text.find("X509v3 Subject Key Identifier");
  ASSERT_NE(skid, std::string::npos);
  const std::string root_key_id = root_text.substr(root_text.find('\n', skid) + 1, 80);
  const std::string key_id =
      root_key_id.substr(root_key_id.find_first_not_of(' '),
                         root_key_id.find('\n') - root_key_id.find_first_not_of(' '));
  EXPECT_NE(leaf_text.find(key_id, akid), std::string::npos) << key_id;

  IssueProfile server = leafProfile("broker.example.com");
  server.server_auth = true;
  const std::string server_text = text(issueLeaf(root, server, random_));
  EXPECT_NE(server_text.find("TLS Web Server Authentication"), std::string::npos);
  EXPECT_EQ(server_text.find("Key Encipherment"), std::string::npos);  // EC key
}

TEST_F(AuthorityTest, SerialsArePositive128BitAndRandom) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  ConstantRandom ones(0xff);
  const Certificate all_ones = issueLeaf(root, leafProfile("a"), ones);
  EXPECT_EQ(all_ones.serialHex(), "7F" + std::string(30, 'F'));
  ConstantRandom zeros(0x00);
  EXPECT_EQ(issueLeaf(root, leafProfile("b"), zeros).serialHex(), "01");

  std::set<std::string> serials;
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    const Certificate leaf = issueLeaf(root, leafProfile("same"), random_);
    serials.insert(leaf.serialHex());
    ids.insert(leaf.id());
    EXPECT_LE(leaf.serialHex().size(), 32u);
  }
  EXPECT_EQ(serials.size(), 20u);
  EXPECT_EQ(ids.size(), 20u);
}

TEST_F(AuthorityTest, TimesAfter2049UseGeneralizedTime) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  IssueProfile profile = leafProfile("aws-like");
  // AWS-issued certificates end 2049-12-31T23:59:59Z, the last UTCTime second.
  profile.not_after = sys_days(2049y / December / 31) + hours(23) + minutes(59) + seconds(59);
  const Certificate aws_like = issueLeaf(root, profile, random_);
  EXPECT_EQ(aws_like.notAfter(), profile.not_after);
  profile.not_after = sys_days(2050y / January / 1);
  const Certificate late = issueLeaf(root, profile, random_);
  EXPECT_EQ(late.notAfter(), profile.not_after);

  const std::string utc = mustRun("openssl asn1parse -in " + save("a.pem", aws_like));
  const std::string generalized = mustRun("openssl asn1parse -in " + save("l.pem", late));
  EXPECT_NE(utc.find("UTCTIME           :491231235959Z"), std::string::npos) << utc;
  EXPECT_NE(generalized.find("GENERALIZEDTIME   :20500101000000Z"), std::string::npos)
      << generalized;
}

TEST_F(AuthorityTest, IssueForRequestTakesOnlyThePublicKey) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  mustRun("openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout " +
          dir_.file("d.key") +
          " -subj '/CN=I want to be a CA' -addext "
          "basicConstraints=critical,CA:TRUE -addext subjectAltName=DNS:evil.example -out " +
          dir_.file("d.csr"));
  auto request = CertificateRequest::fromPem(readFile(dir_.file("d.csr")));
  ASSERT_TRUE(request.ok()) << request.error().message();
  auto certificate = root.issueForRequest(*request, leafProfile("device-9"), random_);
  ASSERT_TRUE(certificate.ok()) << certificate.error().message();
  EXPECT_EQ(certificate->publicKeyDer(), request->publicKeyDer());
  EXPECT_FALSE(certificate->isCa());
  EXPECT_EQ(certificate->subject().toString(), "CN=device-9");
  EXPECT_TRUE(certificate->subjectAltNames().dns.empty());
  // The device's own key must work with the issued certificate.
  writeFile(dir_.file("d.pem"), certificate->pem());
  mustRun("openssl x509 -noout -in " + dir_.file("d.pem") + " -checkend 0");
  const std::string cert_pub = mustRun("openssl x509 -noout -pubkey -in " + dir_.file("d.pem"));
  const std::string key_pub = mustRun("openssl pkey -pubout -in " + dir_.file("d.key"));
  EXPECT_EQ(cert_pub, key_pub);

  // A second issue from the same request is a new certificate.
  auto again = root.issueForRequest(*request, leafProfile("device-9"), random_);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id(), certificate->id());
}

TEST_F(AuthorityTest, RejectsBadInput) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  const std::string spki = key->publicKeyDer();

  auto expectInvalid = [&](const Result<Certificate>& result, const std::string& what) {
    ASSERT_FALSE(result.ok()) << what;
    EXPECT_EQ(result.error().kind(), ErrorKind::kInvalidRequest) << what;
  };
  expectInvalid(root.issue("", leafProfile("x"), random_), "empty key");
  expectInvalid(root.issue("garbage", leafProfile("x"), random_), "garbage key");
  expectInvalid(root.issue(spki + "x", leafProfile("x"), random_), "trailing data");
  expectInvalid(root.issue(spki.substr(0, spki.size() - 1), leafProfile("x"), random_), "cut");

  mustRun("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out " +
          dir_.file("weak.key"));
  mustRun("openssl pkey -in " + dir_.file("weak.key") + " -pubout -outform der -out " +
          dir_.file("weak.der"));
  expectInvalid(root.issue(readFile(dir_.file("weak.der")), leafProfile("x"), random_), "rsa1024");

  mustRun("openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out " +
          dir_.file("pss.key"));
  mustRun("openssl pkey -in " + dir_.file("pss.key") + " -pubout -outform der -out " +
          dir_.file("pss.der"));
  expectInvalid(root.issue(readFile(dir_.file("pss.der")), leafProfile("x"), random_), "rsa-pss");
  mustRun("openssl genpkey -algorithm ED25519 -out " + dir_.file("ed.key"));
  mustRun("openssl pkey -in " + dir_.file("ed.key") + " -pubout -outform der -out " +
          dir_.file("ed.der"));
  expectInvalid(root.issue(readFile(dir_.file("ed.der")), leafProfile("x"), random_), "ed25519");

  IssueProfile empty_validity = leafProfile("x");
  empty_validity.not_after = empty_validity.not_before;
  expectInvalid(root.issue(spki, empty_validity, random_), "validity");
  IssueProfile bad_ip = leafProfile("x");
  bad_ip.ip_addresses = {"300.1.1.1"};
  expectInvalid(root.issue(spki, bad_ip, random_), "ip");
  IssueProfile bad_dns = leafProfile("x");
  bad_dns.dns_names = {"has space.example"};
  expectInvalid(root.issue(spki, bad_dns, random_), "dns");
  IssueProfile bad_attribute = leafProfile("x");
  bad_attribute.subject = name({{"NotAnAttribute", "x"}});
  expectInvalid(root.issue(spki, bad_attribute, random_), "attribute");
  IssueProfile bad_country = leafProfile("x");
  bad_country.subject = name({{"C", "USA"}});
  expectInvalid(root.issue(spki, bad_country, random_), "country");
}

TEST_F(AuthorityTest, CreateChecksKeyAndCaFlag) {
  auto root_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(root_key.ok());
  // The key as a CA loads it: from its file, not the object that made the certificate.
  auto same_key = PrivateKey::fromPem(root_key->privateKeyPem());
  ASSERT_TRUE(same_key.ok());
  auto root = CertificateAuthority::selfSign(SoftwareSigner(std::move(root_key).value()),
                                             caProfile("Root"), random_);
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(CertificateAuthority::create(
                  *root, std::make_shared<SoftwareSigner>(std::move(same_key).value()))
                  .ok());

  auto other_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(other_key.ok());
  auto mismatch = CertificateAuthority::create(
      *root, std::make_shared<SoftwareSigner>(std::move(other_key).value()));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().kind(), ErrorKind::kInvalidRequest);

  const CertificateAuthority ca = makeRoot(KeyType::kEcP256, "Root", random_);
  auto leaf_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(leaf_key.ok());
  auto leaf = ca.issue(leaf_key->publicKeyDer(), leafProfile("leaf"), random_);
  ASSERT_TRUE(leaf.ok());
  auto not_ca = CertificateAuthority::create(
      *leaf, std::make_shared<SoftwareSigner>(std::move(leaf_key).value()));
  ASSERT_FALSE(not_ca.ok());
  EXPECT_EQ(not_ca.error().kind(), ErrorKind::kCertificateValidation);
}

class VerifyChainTest : public AuthorityTest {
 protected:
  VerifyChainTest()
      : root_(makeRoot(KeyType::kEcP256, "Root", random_)),
        intermediate_(makeIntermediate(root_, "Intermediate", random_)),
        leaf_(issueLeaf(intermediate_, leafProfile("device-1"), random_)) {}

  CertificateAuthority root_;
  CertificateAuthority intermediate_;
  Certificate leaf_;
};

TEST_F(VerifyChainTest, GoodChainPasses) {
  EXPECT_TRUE(verifyChain(leaf_, {intermediate_.certificate()}, root_.certificate(), kNow).ok());
  // A registered intermediate is a trust anchor of its own.
  EXPECT_TRUE(verifyChain(leaf_, {}, intermediate_.certificate(), kNow).ok());
}

TEST_F(VerifyChainTest, ExpiredOrNotYetValidLeafFails) {
  Status expired = verifyChain(leaf_, {intermediate_.certificate()}, root_.certificate(),
                               leaf_.notAfter() + seconds(1));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().kind(), ErrorKind::kCertificateValidation);
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos)
      << expired.error().message();
  Status early = verifyChain(leaf_, {intermediate_.certificate()}, root_.certificate(),
                             leaf_.notBefore() - seconds(1));
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.error().message().find("not yet valid"), std::string::npos);
}

TEST_F(VerifyChainTest, WrongAnchorFails) {
  const CertificateAuthority other = makeRoot(KeyType::kEcP256, "Other Root", random_);
  Status status = verifyChain(leaf_, {intermediate_.certificate()}, other.certificate(), kNow);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::kCertificateValidation);
  // Missing intermediate: the root alone cannot reach the leaf.
  EXPECT_FALSE(verifyChain(leaf_, {}, root_.certificate(), kNow).ok());
}

TEST_F(VerifyChainTest, ForgedCaWithSameSubjectFails) {
  const CertificateAuthority forged = makeRoot(KeyType::kEcP256, "Root", random_);
  ASSERT_EQ(forged.certificate().subjectNameDer(), root_.certificate().subjectNameDer());
  Status status = verifyChain(leaf_, {intermediate_.certificate()}, forged.certificate(), kNow);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::kCertificateValidation);
  EXPECT_FALSE(intermediate_.certificate().isSignedBy(forged.certificate()));

  // A forged intermediate (same name, own key) signing a leaf does not chain to the real root.
  const CertificateAuthority fake_intermediate =
      makeRoot(KeyType::kEcP256, "Intermediate", random_);
  const Certificate fake_leaf = issueLeaf(fake_intermediate, leafProfile("device-1"), random_);
  EXPECT_FALSE(
      verifyChain(fake_leaf, {intermediate_.certificate()}, root_.certificate(), kNow).ok());
}

TEST_F(VerifyChainTest, LeafCannotActAsCa) {
  // A leaf (CA:FALSE) used to sign another certificate must not make a valid chain.
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  auto leaf_key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(leaf_key.ok());
  auto leaf = intermediate_.issue(leaf_key->publicKeyDer(), leafProfile("not-a-ca"), random_);
  ASSERT_TRUE(leaf.ok());
  const CertificateAuthority bogus(*leaf,
                                   std::make_shared<SoftwareSigner>(std::move(leaf_key).value()));
  const Certificate grandchild = issueLeaf(bogus, leafProfile("grandchild"), random_);
  EXPECT_FALSE(
      verifyChain(grandchild, {*leaf, intermediate_.certificate()}, root_.certificate(), kNow)
          .ok());
}

TEST_F(VerifyChainTest, PathLengthIsEnforced) {
  // The intermediate has pathlen 0, so a CA below it cannot issue valid leaves.
  const CertificateAuthority sub = makeIntermediate(intermediate_, "Sub", random_);
  const Certificate leaf = issueLeaf(sub, leafProfile("deep"), random_);
  Status status = verifyChain(leaf, {sub.certificate(), intermediate_.certificate()},
                              root_.certificate(), kNow);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("path length"), std::string::npos)
      << status.error().message();
}

TEST_F(VerifyChainTest, AcceptsChainsMadeByOpenssl) {
  mustRun("openssl req -x509 -new -nodes -newkey rsa:2048 -keyout " + dir_.file("ca.key") +
          " -subj '/O=Vendor/CN=Vendor CA' -days 10 -out " + dir_.file("ca.pem"));
  mustRun("openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout " +
          dir_.file("d.key") + " -subj /CN=chip-1 -out " + dir_.file("d.csr"));
  mustRun("openssl x509 -req -in " + dir_.file("d.csr") + " -CA " + dir_.file("ca.pem") +
          " -CAkey " + dir_.file("ca.key") + " -CAcreateserial -days 5 -out " + dir_.file("d.pem"));
  auto ca = Certificate::fromPem(readFile(dir_.file("ca.pem")));
  auto device = Certificate::fromPem(readFile(dir_.file("d.pem")));
  ASSERT_TRUE(ca.ok()) << ca.error().message() << " / " << ca.error().cause();
  ASSERT_TRUE(device.ok()) << device.error().message() << " / " << device.error().cause();
  const TimePoint now = system_clock::now();  // the CLI made these after kNow
  Status good = verifyChain(*device, {}, *ca, now);
  EXPECT_TRUE(good.ok()) << good.error().message() << " / " << good.error().cause();
  EXPECT_FALSE(verifyChain(*device, {}, *ca, now + hours(24 * 6)).ok());
  EXPECT_FALSE(verifyChain(*device, {}, root_.certificate(), now).ok());
}

TEST_F(AuthorityTest, ConcurrentIssuing) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  const std::string spki = key->publicKeyDer();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SecureRandom random;
      for (int i = 0; i < kPerThread; ++i) {
        auto certificate = root.issue(spki, leafProfile("device"), random);
        if (certificate.ok() && certificate->isSignedBy(root.certificate())) {
          ids[static_cast<std::size_t>(t)].push_back(certificate->id());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> unique;
  for (const auto& list : ids) unique.insert(list.begin(), list.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

// Not an assertion (tests never assert on speed): prints the cost of one issue for the record.
TEST_F(AuthorityTest, ReportsIssueCost) {
  const CertificateAuthority root = makeRoot(KeyType::kEcP256, "Root", random_);
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  const std::string spki = key->publicKeyDer();
  const IssueProfile profile = leafProfile("device");
  constexpr int kCount = 500;
  const auto start = steady_clock::now();
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(root.issue(spki, profile, random_).ok());
  const auto elapsed = duration_cast<microseconds>(steady_clock::now() - start);
  std::printf("issue(), P-256 CA: %.1f us per certificate\n",
              static_cast<double>(elapsed.count()) / kCount);
}

}  // namespace
}  // namespace fleetgate::pki
