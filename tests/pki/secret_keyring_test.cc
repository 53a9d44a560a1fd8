#include "pki/secret_keyring.h"

#include <gtest/gtest.h>

#include "common/encoding.h"

namespace fleetgate::pki {
namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

TEST(SecretKeyringTest, SealedSecretOpensOnlyInItsOwnContext) {
  const auto ring = SecretKeyring::generate();
  const std::string sealed = ring.seal(kSecret, "AKIAEXAMPLE00000001");
  EXPECT_TRUE(SecretKeyring::isSealed(sealed));
  EXPECT_EQ(SecretKeyring::sealedKeyId(sealed), ring.currentKeyId());
  EXPECT_EQ(sealed.find(kSecret), std::string::npos);
  EXPECT_EQ(ring.open(sealed, "AKIAEXAMPLE00000001").value(), kSecret);
  // The same secret seals differently each time (fresh nonce).
  EXPECT_NE(ring.seal(kSecret, "AKIAEXAMPLE00000001"), sealed);
  // Moved into another row, it does not open.
  EXPECT_FALSE(ring.open(sealed, "AKIAEXAMPLE00000002").ok());
  // Nor under another ring's key of the same id shape.
  EXPECT_FALSE(SecretKeyring::generate().open(sealed, "AKIAEXAMPLE00000001").ok());
}

TEST(SecretKeyringTest, TamperedOrMalformedValuesDoNotOpen) {
  const auto ring = SecretKeyring::generate();
  const std::string sealed = ring.seal(kSecret, "ctx");
  const std::size_t body = sealed.rfind(':') + 1;
  auto blob = *base64Decode(sealed.substr(body));
  for (std::size_t i = 0; i < blob.size(); i += 7) {
    std::string flipped = blob;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(ring.open(sealed.substr(0, body) + base64Encode(flipped), "ctx").ok()) << i;
  }
  for (std::string bad : {std::string(kSecret), std::string("fgsealed1:"),
                          "fgsealed1:" + ring.currentKeyId() + ":",
                          "fgsealed1:" + ring.currentKeyId() + ":!!!", sealed.substr(0, body + 8)}) {
    EXPECT_FALSE(ring.open(bad, "ctx").ok()) << bad;
  }
}

TEST(SecretKeyringTest, RotationKeepsOldSecretsReadableUntilTheOldKeyIsDropped) {
  auto ring = SecretKeyring::generate();
  const std::string old_id = ring.currentKeyId();
  const std::string before = ring.seal(kSecret, "ctx");
  ring.rotate();
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_NE(ring.currentKeyId(), old_id);
  EXPECT_TRUE(ring.holds(old_id));
  EXPECT_EQ(ring.open(before, "ctx").value(), kSecret);
  const std::string after = ring.seal(kSecret, "ctx");
  EXPECT_EQ(SecretKeyring::sealedKeyId(after), ring.currentKeyId());
  ring.dropOldKeys();
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_FALSE(ring.holds(old_id));
  auto gone = ring.open(before, "ctx");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind(), ErrorKind::kEnvironment);
  EXPECT_NE(gone.error().cause().find(old_id), std::string::npos);
  EXPECT_EQ(ring.open(after, "ctx").value(), kSecret);
}

TEST(SecretKeyringTest, KeyFileRoundTripsAndRefusesWhatIsNotAKey) {
  auto ring = SecretKeyring::generate();
  ring.rotate();
  const std::string sealed = ring.seal(kSecret, "ctx");
  auto parsed = SecretKeyring::parse(ring.serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->size(), 2u);
  EXPECT_EQ(parsed->currentKeyId(), ring.currentKeyId());
  EXPECT_EQ(parsed->open(sealed, "ctx").value(), kSecret);

  const std::string key = base64Encode(std::string(32, 'k'));
  EXPECT_TRUE(SecretKeyring::parse("fleetgate-secret-key-v1 0123456789abcdef " + key + "\n").ok());
  for (std::string bad : {std::string(""), std::string("# only a comment\n"),
                          "fleetgate-secret-key-v2 0123456789abcdef " + key,
                          "fleetgate-secret-key-v1 0123456789ABCDEF " + key,
                          "fleetgate-secret-key-v1 0123 " + key,
                          "fleetgate-secret-key-v1 0123456789abcdef " + base64Encode("short"),
                          "fleetgate-secret-key-v1 0123456789abcdef " + key + " extra",
                          std::string("fleetgate-secret-key-v1 0123456789abcdef")}) {
    EXPECT_FALSE(SecretKeyring::parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace fleetgate::pki
