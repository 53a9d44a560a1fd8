#include "pki/certificate_request.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using testing::mustRun;
using testing::readFile;
using testing::TempDir;

class CertificateRequestTest : public ::testing::Test {
 protected:
  // A CSR made by the openssl CLI; returns its PEM.
  std::string makeCsr(const std::string& key_options, const std::string& subject = "/CN=device-1") {
    const std::string csr = dir_.file("r.csr");
    mustRun("openssl req -new -nodes " + key_options + " -keyout " + dir_.file("r.key") +
            " -subj '" + subject + "' -out " + csr);
    return readFile(csr);
  }

  static void expectInvalid(const Result<CertificateRequest>& result, const std::string& what) {
    ASSERT_FALSE(result.ok()) << what;
    EXPECT_EQ(result.error().kind(), ErrorKind::kInvalidRequest) << what;
    EXPECT_EQ(result.error().message().find("error:"), std::string::npos) << what;
  }

  // DER of the single PEM block in `pem`.
  static std::string derOf(const std::string& pem) {
    std::string body;
    std::size_t begin = pem.find('\n') + 1;
    std::size_t end = pem.find("-----END");
    for (char c : pem.substr(begin, end - begin)) {
      if (c != '\n') body.push_back(c);
    }
    return base64Decode(body).value_or("");
  }

  static std::string csrPem(const std::string& der) {
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + base64Encode(der) +
           "\n-----END CERTIFICATE REQUEST-----\n";
  }

  TempDir dir_;
};

TEST_F(CertificateRequestTest, AcceptsCliRequests) {
  for (const std::string options :
       {"-newkey ec -pkeyopt ec_paramgen_curve:P-256",
        "-newkey ec -pkeyopt ec_paramgen_curve:P-384",
        "-newkey ec -pkeyopt ec_paramgen_curve:P-521", "-newkey rsa:2048", "-newkey rsa:3072"}) {
    const std::string pem = makeCsr(options, "/C=DE/O=Acme/serialNumber=42/CN=device-1");
    auto request = CertificateRequest::fromPem(pem);
    ASSERT_TRUE(request.ok()) << options << ": " << request.error().message();
    EXPECT_EQ(request->subject().toString(), "CN=device-1,serialNumber=42,O=Acme,C=DE");
    mustRun("openssl req -in " + dir_.file("r.csr") +
            " -noout -pubkey | openssl pkey -pubin "
            "-outform der -out " +
            dir_.file("pub.der"));
    EXPECT_EQ(request->publicKeyDer(), readFile(dir_.file("pub.der"))) << options;
    EXPECT_NE(request->native(), nullptr);
  }
}

TEST_F(CertificateRequestTest, AcceptsOldLabelAndSurroundingText) {
  std::string pem = makeCsr("-newkey ec -pkeyopt ec_paramgen_curve:P-256");
  auto plain = CertificateRequest::fromPem("csr for device-1:\n" + pem + "\nthanks\n");
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  std::string old_label = pem;
  old_label.replace(old_label.find("BEGIN "), 6, "BEGIN NEW ");
  old_label.replace(old_label.find("END "), 4, "END NEW ");
  EXPECT_TRUE(CertificateRequest::fromPem(old_label).ok());
}

TEST_F(CertificateRequestTest, RejectsFlippedSignature) {
  for (const std::string options :
       {"-newkey ec -pkeyopt ec_paramgen_curve:P-256", "-newkey rsa:2048"}) {
    const std::string der = derOf(makeCsr(options));
    ASSERT_FALSE(der.empty());
    ASSERT_TRUE(CertificateRequest::fromPem(csrPem(der)).ok());  // the re-wrapping is sound
    std::string flipped = der;
    flipped.back() = static_cast<char>(flipped.back() ^ 0x01);  // last byte of the signature
    auto result = CertificateRequest::fromPem(csrPem(flipped));
    expectInvalid(result, options);
    if (!result.ok()) {
      EXPECT_NE(result.error().message().find("signature"), std::string::npos);
    }

    // Changing the subject without re-signing is caught the same way.
    std::string tampered = der;
    const auto at = tampered.find("device-1");
    ASSERT_NE(at, std::string::npos);
    tampered[at] = 'D';
    expectInvalid(CertificateRequest::fromPem(csrPem(tampered)), options + " tampered subject");
  }
}

TEST_F(CertificateRequestTest, RejectsWeakOrUnsupportedKeys) {
  for (const std::string options :
       {"-newkey rsa:1024", "-newkey ec -pkeyopt ec_paramgen_curve:secp256k1",
        "-newkey ec -pkeyopt ec_paramgen_curve:P-224", "-newkey ed25519",
        "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:explicit"}) {
    expectInvalid(CertificateRequest::fromPem(makeCsr(options)), options);
  }
}

TEST_F(CertificateRequestTest, RejectsMalformedInput) {
  const std::string pem = makeCsr("-newkey ec -pkeyopt ec_paramgen_curve:P-256");
  const std::string der = derOf(pem);
  mustRun("openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout " +
          dir_.file("c.key") + " -subj /CN=c -out " + dir_.file("c.pem"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"garbage", "not a csr"},
      {"certificate", readFile(dir_.file("c.pem"))},
      {"private key", readFile(dir_.file("r.key"))},
      {"truncated", pem.substr(0, pem.size() / 2)},
      {"two requests", pem + pem},
      {"trailing der", csrPem(der + "\x01")},
      {"cut der", csrPem(der.substr(0, der.size() - 3))},
      {"not der", csrPem("hello world!")},
      {"huge", std::string(65 * 1024, ' ') + pem},
  };
  for (const auto& [name, input] : cases) expectInvalid(CertificateRequest::fromPem(input), name);
}

TEST_F(CertificateRequestTest, CreatedRequestsVerifyWithTheOpensslCli) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kRsa2048}) {
    auto key = PrivateKey::generate(type);
    ASSERT_TRUE(key.ok());
    DistinguishedName subject{{{"O", "Acme"}, {"CN", "device-42"}}};
    auto pem = CertificateRequest::createPem(*key, subject);
    ASSERT_TRUE(pem.ok());
    auto parsed = CertificateRequest::fromPem(*pem);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->subject().first("CN"), "device-42");
    EXPECT_EQ(parsed->publicKeyDer(), key->publicKeyDer());
    const std::string file = dir_.file("created.csr");
    testing::writeFile(file, *pem);
    EXPECT_NE(mustRun("openssl req -verify -noout -in " + file + " 2>&1").find("verify OK"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace fleetgate::pki
