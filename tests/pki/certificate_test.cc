#include "pki/certificate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

#include "common/encoding.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using testing::mustRun;
using testing::readFile;
using testing::TempDir;
using testing::trimmed;

// "SHA256 Fingerprint=AB:CD:..." -> "abcd..."
std::string fingerprintToId(const std::string& output) {
  std::string id;
  for (char c : output.substr(output.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      id.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return id;
}

class CertificateTest : public ::testing::Test {
 protected:
  // A self-signed certificate made by the openssl CLI; returns the path of its PEM.
  std::string makeCertificate(const std::string& name, const std::string& key_options,
                              const std::string& extra = "") {
    const std::string pem = dir_.file(name + ".pem");
    mustRun("openssl req -x509 -new -nodes " + key_options + " -keyout " +
            dir_.file(name + ".key") + " -days 30 -out " + pem + " " + extra);
    return pem;
  }

  std::string ecCertificate(const std::string& name, const std::string& subject,
                            const std::string& extra = "") {
    return makeCertificate(name, "-newkey ec -pkeyopt ec_paramgen_curve:P-256",
                           "-subj '" + subject + "' " + extra);
  }

  Certificate parse(const std::string& path) {
    auto certificate = Certificate::fromPem(readFile(path));
    EXPECT_TRUE(certificate.ok()) << certificate.error().message();
    return std::move(certificate).value();
  }

  TempDir dir_;
};

TEST_F(CertificateTest, IdIsOpensslSha256Fingerprint) {
  const std::string path = ecCertificate("c", "/C=US/O=Acme/CN=device-1");
  const Certificate certificate = parse(path);
  const std::string expected =
      fingerprintToId(mustRun("openssl x509 -noout -fingerprint -sha256 -in " + path));
  EXPECT_EQ(expected.size(), 64u);
  EXPECT_EQ(certificate.id(), expected);
}

TEST_F(CertificateTest, DerRoundTripsExactly) {
  const std::string path = ecCertificate("c", "/CN=device-1");
  const Certificate certificate = parse(path);
  mustRun("openssl x509 -in " + path + " -outform der -out " + dir_.file("c.der"));
  EXPECT_EQ(certificate.der(), readFile(dir_.file("c.der")));

  auto again = Certificate::fromDer(certificate.der());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id(), certificate.id());
  auto from_pem = Certificate::fromPem(certificate.pem());
  ASSERT_TRUE(from_pem.ok());
  EXPECT_EQ(from_pem->id(), certificate.id());
  EXPECT_EQ(certificate.pem(), readFile(path));  // openssl writes the same 64-column PEM
}

TEST_F(CertificateTest, CopiesShareTheParsedCertificate) {
  const Certificate certificate = parse(ecCertificate("c", "/CN=device-1"));
  const Certificate copy = certificate;
  EXPECT_EQ(copy.native(), certificate.native());
  EXPECT_EQ(&copy.id(), &certificate.id());
}

TEST_F(CertificateTest, SubjectAndIssuerMatchOpenssl) {
  const std::string path = ecCertificate("c", "/C=US/ST=WA/O=Acme, Inc./OU=Devices/CN=device-1");
  const Certificate certificate = parse(path);
  const DistinguishedName subject = certificate.subject();
  ASSERT_EQ(subject.attributes.size(), 5u);
  EXPECT_EQ(subject.attributes[0], (std::pair<std::string, std::string>{"C", "US"}));
  EXPECT_EQ(subject.first("O"), "Acme, Inc.");
  EXPECT_EQ(subject.first("CN"), "device-1");
  EXPECT_EQ(subject.first("L"), std::nullopt);
  EXPECT_EQ("subject=" + subject.toString(),
            trimmed(mustRun("openssl x509 -noout -subject -nameopt RFC2253 -in " + path)));
  EXPECT_EQ(certificate.issuer().toString(), subject.toString());
  EXPECT_TRUE(certificate.isSelfIssued());
  EXPECT_EQ(certificate.subjectNameDer(), certificate.issuerNameDer());
}

TEST_F(CertificateTest, UnusualAttributesUseOpensslShortNames) {
  const std::string path = ecCertificate(
      "c",
      "/serialNumber=SN-42/dnQualifier=dq/title=Dr/SN=Doe/GN=Jane/initials=JD/pseudonym=jdoe/"
      "generationQualifier=III/emailAddress=jd@example.com/OU=a/OU=b/CN=#lead;semi<>");
  const DistinguishedName subject = parse(path).subject();
  EXPECT_EQ(subject.first("serialNumber"), "SN-42");
  EXPECT_EQ(subject.first("dnQualifier"), "dq");
  EXPECT_EQ(subject.first("title"), "Dr");
  EXPECT_EQ(subject.first("SN"), "Doe");
  EXPECT_EQ(subject.first("GN"), "Jane");
  EXPECT_EQ(subject.first("initials"), "JD");
  EXPECT_EQ(subject.first("pseudonym"), "jdoe");
  EXPECT_EQ(subject.first("generationQualifier"), "III");
  EXPECT_EQ(subject.first("emailAddress"), "jd@example.com");
  EXPECT_EQ(subject.all("OU"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(subject.first("CN"), "#lead;semi<>");
  EXPECT_EQ("subject=" + subject.toString(),
            trimmed(mustRun("openssl x509 -noout -subject -nameopt RFC2253 -in " + path)));
}

TEST_F(CertificateTest, Utf8ValuesAreDecoded) {
  const std::string path = makeCertificate("c", "-newkey ec -pkeyopt ec_paramgen_curve:P-256",
                                           "-utf8 -subj '/O=Ac\xc3\xa9me/CN=d\xc3\xa9vice'");
  const DistinguishedName subject = parse(path).subject();
  EXPECT_EQ(subject.first("CN"), "d\xc3\xa9vice");
  EXPECT_EQ(subject.toString(), "CN=d\xc3\xa9vice,O=Ac\xc3\xa9me");
}

TEST(DistinguishedNameTest, ToStringEscapesRfc2253Specials) {
  DistinguishedName dn;
  dn.attributes = {{"O", " a,b+c\"d\\e<f>g;h "}, {"CN", "#x"}, {"OU", std::string("n\0l", 3)}};
  EXPECT_EQ(dn.toString(), "OU=n\\00l,CN=\\#x,O=\\ a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\ ");
  EXPECT_EQ(DistinguishedName{}.toString(), "");
}

TEST_F(CertificateTest, SerialValidityAndKeyMatchOpenssl) {
  const std::string path = ecCertificate("c", "/CN=device-1");
  const Certificate certificate = parse(path);
  EXPECT_EQ("serial=" + certificate.serialHex(),
            trimmed(mustRun("openssl x509 -noout -serial -in " + path)));

  using namespace std::chrono;
  EXPECT_EQ(certificate.notAfter() - certificate.notBefore(), hours(24 * 30));
  EXPECT_LT(abs(duration_cast<seconds>(system_clock::now() - certificate.notBefore()).count()),
            300);
  EXPECT_TRUE(certificate.isValidAt(system_clock::now()));
  EXPECT_FALSE(certificate.isValidAt(certificate.notAfter() + seconds(1)));
  EXPECT_FALSE(certificate.isValidAt(certificate.notBefore() - seconds(1)));

  mustRun("openssl x509 -in " + path + " -noout -pubkey | openssl pkey -pubin -outform der -out " +
          dir_.file("pub.der"));
  EXPECT_EQ(certificate.publicKeyDer(), readFile(dir_.file("pub.der")));
}

TEST_F(CertificateTest, SubjectAltNames) {
  const Certificate certificate = parse(ecCertificate(
      "c", "/CN=s",
      "-addext 'subjectAltName=DNS:a.example.com,DNS:*.b.example,IP:10.0.0.1,IP:2001:db8::1,"
      "email:ops@example.com,URI:spiffe://acme/device'"));
  const SubjectAltNames names = certificate.subjectAltNames();
  EXPECT_EQ(names.dns, (std::vector<std::string>{"a.example.com", "*.b.example"}));
  EXPECT_EQ(names.ip, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
  EXPECT_EQ(names.email, (std::vector<std::string>{"ops@example.com"}));
  EXPECT_EQ(names.uri, (std::vector<std::string>{"spiffe://acme/device"}));

  const SubjectAltNames none = parse(ecCertificate("d", "/CN=d")).subjectAltNames();
  EXPECT_TRUE(none.dns.empty() && none.ip.empty() && none.email.empty() && none.uri.empty());
}

TEST_F(CertificateTest, CaFlagFollowsBasicConstraints) {
  // `openssl req -x509` applies the v3_ca section: basicConstraints CA:TRUE.
  EXPECT_TRUE(parse(ecCertificate("ca", "/CN=ca")).isCa());
  EXPECT_FALSE(
      parse(ecCertificate("leaf", "/CN=leaf", "-addext basicConstraints=CA:FALSE")).isCa());
}

TEST_F(CertificateTest, AcceptableKeysAndSignatures) {
  const Certificate ec = parse(ecCertificate("ec", "/CN=ec"));
  EXPECT_EQ(ec.signatureAlgorithm(), "ecdsa-with-SHA256");
  EXPECT_TRUE(ec.checkAcceptable().ok());

  const Certificate p384 = parse(makeCertificate(
      "p384", "-newkey ec -pkeyopt ec_paramgen_curve:P-384 -sha384", "-subj /CN=p384"));
  EXPECT_EQ(p384.signatureAlgorithm(), "ecdsa-with-SHA384");
  EXPECT_TRUE(p384.checkAcceptable().ok());

  const Certificate rsa = parse(makeCertificate("rsa", "-newkey rsa:2048", "-subj /CN=rsa"));
  EXPECT_EQ(rsa.signatureAlgorithm(), "sha256WithRSAEncryption");
  EXPECT_TRUE(rsa.checkAcceptable().ok());
}

TEST_F(CertificateTest, WeakKeysAndSignaturesAreNotAcceptable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"rsa1024", "-newkey rsa:1024"},
      {"k256", "-newkey ec -pkeyopt ec_paramgen_curve:secp256k1"},
      {"ed25519", "-newkey ed25519"},
      {"sha1", "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha1"},
  };
  for (const auto& [name, options] : cases) {
    const Certificate certificate = parse(makeCertificate(name, options, "-subj /CN=" + name));
    Status status = certificate.checkAcceptable();
    ASSERT_FALSE(status.ok()) << name;
    EXPECT_EQ(status.error().kind(), ErrorKind::kCertificateValidation) << name;
  }
}

TEST_F(CertificateTest, FromPemIgnoresSurroundingTextAndCrlf) {
  const std::string path = ecCertificate("c", "/CN=c");
  const std::string pem = readFile(path);
  std::string crlf;
  for (char c : pem) {
    if (c == '\n') crlf.push_back('\r');
    crlf.push_back(c);
  }
  for (const std::string& input : {"Subject: device\n" + pem + "trailing words\n", crlf, "  " + pem,
                                   pem.substr(0, pem.size() - 1)}) {
    auto certificate = Certificate::fromPem(input);
    ASSERT_TRUE(certificate.ok()) << certificate.error().message();
    EXPECT_EQ(certificate->id(), parse(path).id());
  }
  // A key block beside the certificate is not the certificate and is ignored.
  auto with_key = Certificate::fromPem(readFile(dir_.file("c.key")) + pem);
  ASSERT_TRUE(with_key.ok());
}

void expectCertificateError(const Result<Certificate>& result, const std::string& what) {
  ASSERT_FALSE(result.ok()) << what;
  EXPECT_EQ(result.error().kind(), ErrorKind::kCertificateValidation) << what;
  EXPECT_FALSE(result.error().message().empty()) << what;
  EXPECT_EQ(result.error().message().find("error:"), std::string::npos)
      << what << ": OpenSSL details belong in the cause, not the message";
}

TEST_F(CertificateTest, MalformedPemIsRejected) {
  const std::string pem = readFile(ecCertificate("c", "/CN=c"));
  const std::string body_start = "-----BEGIN CERTIFICATE-----\n";
  const std::size_t end_at = pem.find("-----END");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"garbage", "this is not a certificate"},
      {"binary", std::string("\x30\x82\xff\xff\x00\x01", 6)},
      {"header only", body_start},
      {"truncated header", "-----BEGIN CERTIF"},
      {"truncated body", pem.substr(0, end_at - 20)},
      {"truncated base64 line", pem.substr(0, end_at - 10) + "\n" + pem.substr(end_at)},
      {"no end", pem.substr(0, end_at)},
      {"mismatched end", pem.substr(0, end_at) + "-----END PUBLIC KEY-----\n"},
      {"bad base64", body_start + "MII*AAAA\n-----END CERTIFICATE-----\n"},
      {"base64 not der", body_start + "aGVsbG8gd29ybGQh\n-----END CERTIFICATE-----\n"},
      {"empty block", body_start + "-----END CERTIFICATE-----\n"},
      {"wrong type", readFile(dir_.file("c.key"))},
      {"two certificates", pem + pem},
      {"encrypted header", body_start + "Proc-Type: 4,ENCRYPTED\n" + pem.substr(body_start.size())},
      {"huge", std::string(70 * 1024, 'A') + pem},
  };
  for (const auto& [name, input] : cases) {
    expectCertificateError(Certificate::fromPem(input), name);
  }
  auto two = Certificate::fromPem(pem + pem);
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message().find("exactly one"), std::string::npos);
}

TEST_F(CertificateTest, MalformedDerIsRejected) {
  const std::string der = parse(ecCertificate("c", "/CN=c")).der();
  expectCertificateError(Certificate::fromDer(""), "empty");
  expectCertificateError(Certificate::fromDer(der.substr(0, der.size() - 1)), "truncated");
  expectCertificateError(Certificate::fromDer(der.substr(0, 40)), "prefix");
  expectCertificateError(Certificate::fromDer(der + '\0'), "trailing byte");
  expectCertificateError(Certificate::fromDer(der + der), "two certificates");
  expectCertificateError(Certificate::fromDer(std::string(100 * 1024, '\x30')), "huge");
  std::string corrupted = der;
  corrupted[1] = static_cast<char>(corrupted[1] ^ 0x01);  // outer length byte
  expectCertificateError(Certificate::fromDer(corrupted), "bad length");

  // notBefore is the first UTCTime (tag 0x17, 13 bytes); a letter in it is no time at all.
  const std::size_t time = der.find(std::string("\x17\x0d", 2));
  ASSERT_NE(time, std::string::npos);
  std::string bad_time = der;
  bad_time[time + 4] = 'X';
  expectCertificateError(Certificate::fromDer(bad_time), "bad time");
}

TEST_F(CertificateTest, ChainFromPemReturnsEveryCertificateInOrder) {
  const std::string a = readFile(ecCertificate("a", "/CN=a"));
  const std::string b = readFile(ecCertificate("b", "/CN=b"));
  auto chain = Certificate::chainFromPem(a + "\n" + readFile(dir_.file("a.key")) + b);
  ASSERT_TRUE(chain.ok()) << chain.error().message();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].subject().first("CN"), "a");
  EXPECT_EQ((*chain)[1].subject().first("CN"), "b");

  auto none = Certificate::chainFromPem(readFile(dir_.file("a.key")));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind(), ErrorKind::kCertificateValidation);
  auto broken = Certificate::chainFromPem(a + b.substr(0, b.size() / 2));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().kind(), ErrorKind::kCertificateValidation);
}

TEST_F(CertificateTest, IsSignedByChecksNameAndSignature) {
  const std::string ca = ecCertificate("ca", "/O=Acme/CN=Acme CA");
  mustRun("openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout " +
          dir_.file("leaf.key") + " -subj /CN=leaf -out " + dir_.file("leaf.csr"));
  mustRun("openssl x509 -req -in " + dir_.file("leaf.csr") + " -CA " + ca + " -CAkey " +
          dir_.file("ca.key") + " -CAcreateserial -days 5 -out " + dir_.file("leaf.pem"));
  // Same subject as the CA, different key: a forgery.
  const std::string forged = ecCertificate("forged", "/O=Acme/CN=Acme CA");
  const Certificate leaf = parse(dir_.file("leaf.pem"));
  EXPECT_TRUE(leaf.isSignedBy(parse(ca)));
  EXPECT_FALSE(leaf.isSignedBy(parse(forged)));
  EXPECT_FALSE(leaf.isSignedBy(leaf));
  EXPECT_TRUE(parse(ca).isSignedBy(parse(ca)));
  EXPECT_FALSE(leaf.isSelfIssued());
  EXPECT_EQ(leaf.issuerNameDer(), parse(ca).subjectNameDer());
}

TEST_F(CertificateTest, ConcurrentReadersAgree) {
  const Certificate certificate = parse(ecCertificate("c", "/O=Acme/CN=c"));
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (std::size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (certificate.subject().toString() != "CN=c,O=Acme" || !certificate.isCa() ||
            !certificate.isSignedBy(certificate) || !certificate.checkAcceptable().ok() ||
            Certificate::fromDer(certificate.der())->id() != certificate.id()) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace fleetgate::pki
