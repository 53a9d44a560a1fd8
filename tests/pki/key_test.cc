#include "pki/key.h"

#include <gtest/gtest.h>

#include <set>

#include "pki/key_pool.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using testing::mustRun;
using testing::readFile;
using testing::TempDir;
using testing::writeFile;

class KeyTest : public ::testing::Test {
 protected:
  // Runs an openssl command whose "OUT" stands for the output file; returns what it wrote.
  std::string cli(std::string command, const std::string& file) {
    command.replace(command.find("OUT"), 3, dir_.file(file));
    mustRun(command);
    return readFile(dir_.file(file));
  }

  TempDir dir_;
};

TEST_F(KeyTest, GeneratedEcKeyUsesSec1AndChecksOut) {
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->type(), KeyType::kEcP256);
  const std::string pem = key->privateKeyPem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n")) << pem.substr(0, 40);
  writeFile(dir_.file("k.pem"), pem);
  const std::string text = mustRun("openssl ec -check -noout -text -in " + dir_.file("k.pem"));
  EXPECT_NE(text.find("prime256v1"), std::string::npos);
  EXPECT_NE(text.find("EC Key valid."), std::string::npos);

  const std::string public_pem = key->publicKeyPem();
  EXPECT_TRUE(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
  EXPECT_EQ(public_pem, mustRun("openssl pkey -pubout -in " + dir_.file("k.pem")));

  auto again = PrivateKey::fromPem(pem);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->publicKeyDer(), key->publicKeyDer());
  EXPECT_EQ(again->privateKeyPem(), pem);
}

TEST_F(KeyTest, GeneratedRsaKeyUsesPkcs1) {
  auto key = PrivateKey::generate(KeyType::kRsa2048);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->type(), KeyType::kRsa2048);
  const std::string pem = key->privateKeyPem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n")) << pem.substr(0, 40);
  writeFile(dir_.file("k.pem"), pem);
  const std::string text = mustRun("openssl rsa -check -noout -text -in " + dir_.file("k.pem"));
  EXPECT_NE(text.find("2048 bit"), std::string::npos);
  EXPECT_NE(text.find("RSA key ok"), std::string::npos);
  EXPECT_EQ(key->publicKeyPem(), mustRun("openssl pkey -pubout -in " + dir_.file("k.pem")));
  auto again = PrivateKey::fromPem(pem);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->publicKeyDer(), key->publicKeyDer());
}

TEST_F(KeyTest, GeneratedKeysDiffer) {
  auto a = PrivateKey::generate(KeyType::kEcP256);
  auto b = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->publicKeyDer(), b->publicKeyDer());
}

TEST_F(KeyTest, FromPemAcceptsPkcs8Pkcs1AndSec1) {
  struct Case {
    std::string command;
    std::string label;
    KeyType type;
  };
  const std::vector<Case> cases = {
      {"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out OUT", "PRIVATE KEY",
       KeyType::kEcP256},
      {"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out OUT", "PRIVATE KEY",
       KeyType::kRsa2048},
      {"openssl genrsa -traditional -out OUT 2048", "RSA PRIVATE KEY", KeyType::kRsa2048},
      {"openssl genrsa -traditional -out OUT 3072", "RSA PRIVATE KEY", KeyType::kRsa2048},
      // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
      {"openssl ecparam -name prime256v1 -genkey -out OUT", "EC PRIVATE KEY", KeyType::kEcP256},
  };
  for (const auto& c : cases) {
    const std::string pem = cli(c.command, "k.pem");
    ASSERT_NE(pem.find("BEGIN " + c.label + "-----"), std::string::npos) << c.command;
    auto key = PrivateKey::fromPem(pem);
    ASSERT_TRUE(key.ok()) << c.command << ": " << key.error().message() << " / "
                          << key.error().cause();
    EXPECT_EQ(key->type(), c.type) << c.command;
    EXPECT_EQ(key->publicKeyPem(), mustRun("openssl pkey -pubout -in " + dir_.file("k.pem")))
        << c.command;
  }
}

TEST_F(KeyTest, FromPemRejectsUnsupportedKeys) {
  const std::vector<std::string> commands = {
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:x -out "
      "OUT",
      "openssl genrsa -traditional -aes256 -passout pass:secret -out OUT 2048",
      "openssl genrsa -out OUT 1024",
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out OUT",
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out OUT",
      "openssl genpkey -algorithm ED25519 -out OUT",
  };
  for (const auto& command : commands) {
    auto key = PrivateKey::fromPem(cli(command, "k.pem"));
    ASSERT_FALSE(key.ok()) << command;
    EXPECT_EQ(key.error().kind(), ErrorKind::kInvalidRequest) << command;
  }
}

TEST_F(KeyTest, FromPemRejectsMalformedInput) {
  const std::string pem =
      cli("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out OUT", "k.pem");
  mustRun("openssl req -x509 -new -key " + dir_.file("k.pem") + " -subj /CN=c -out " +
          dir_.file("c.pem"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
      {"truncated", pem.substr(0, pem.size() - 30)},
      {"certificate only", readFile(dir_.file("c.pem"))},
      {"two keys", pem + pem},
      {"wrong label", "-----BEGIN RSA PRIVATE KEY-----" +
                          pem.substr(pem.find('\n'), pem.find("-----END") - pem.find('\n')) +
                          "-----END RSA PRIVATE KEY-----\n"},
  };
  for (const auto& [name, input] : cases) {
    auto key = PrivateKey::fromPem(input);
    ASSERT_FALSE(key.ok()) << name;
    EXPECT_EQ(key.error().kind(), ErrorKind::kInvalidRequest) << name;
  }
}

TEST(KeyPoolTest, HandsOutDistinctKeys) {
  KeyPool pool(KeyType::kEcP256, 4);
  EXPECT_EQ(pool.type(), KeyType::kEcP256);
  std::set<std::string> seen;
  for (int i = 0; i < 12; ++i) {  // more than the capacity: some come from take() itself
    auto key = pool.take();
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->type(), KeyType::kEcP256);
    seen.insert(key->publicKeyDer());
  }
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_LE(pool.available(), 4u);
}

TEST(KeyPoolTest, FillsInTheBackground) {
  KeyPool pool(KeyType::kEcP256, 3);
  // Bounded wait for the filler thread; this checks that it fills, not how fast.
  for (int i = 0; i < 500 && pool.available() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(pool.available(), 3u);
  ASSERT_TRUE(pool.take().ok());
  for (int i = 0; i < 500 && pool.available() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(pool.available(), 3u);
}

TEST(KeyPoolTest, RsaPoolStopsWhileGenerating) {
  // Destroyed while its thread is in the middle of an RSA generation.
  KeyPool pool(KeyType::kRsa2048, 2);
  auto key = pool.take();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->type(), KeyType::kRsa2048);
}

TEST(KeyPoolTest, ZeroCapacityGeneratesOnDemand) {
  KeyPool pool(KeyType::kEcP256, 0);
  auto a = pool.take();
  auto b = pool.take();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->publicKeyDer(), b->publicKeyDer());
  EXPECT_EQ(pool.available(), 0u);
}

}  // namespace
}  // namespace fleetgate::pki
