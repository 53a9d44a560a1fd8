#pragma once

// Secrets at rest (access-key secrets today, ownership tokens later) are sealed with AES-256-GCM
// under a keyring kept outside the database, so a copied or backed-up database alone reveals no
// secret. The newest key seals and every key in the ring opens: a rotation adds a key, re-seals
// what is stored, then drops the old key, and no moment in between leaves a secret unreadable.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace fleetgate::pki {

class SecretKeyring {
 public:
  // A ring of one fresh key.
  static SecretKeyring generate();
  // A key file's text: one key a line, `fleetgate-secret-key-v1 <id> <base64 of 32 bytes>`;
  // the last line is the current key. Blank lines and lines starting with '#' are skipped.
  static Result<SecretKeyring> parse(std::string_view text);
  std::string serialize() const;

  // Adds a fresh key, which becomes the current one.
  void rotate();
  // Forgets every key but the current one.
  void dropOldKeys();
  const std::string& currentKeyId() const { return keys_.back().id; }
  bool holds(std::string_view key_id) const;
  std::size_t size() const { return keys_.size(); }

  // `context` (the row the secret belongs to, e.g. its access key id) is bound in as associated
  // data, so a sealed value copied into another row does not open there.
  std::string seal(std::string_view plaintext, std::string_view context) const;
  Result<std::string> open(std::string_view sealed, std::string_view context) const;
  // Whether `value` has the sealed form, and which key sealed it (empty when not sealed).
  static bool isSealed(std::string_view value);
  static std::string_view sealedKeyId(std::string_view value);

 private:
  struct Key {
    std::string id;  // 16 hex digits
    std::array<std::uint8_t, 32> bytes{};
  };
  static Key freshKey();
  explicit SecretKeyring(std::vector<Key> keys) : keys_(std::move(keys)) {}

  std::vector<Key> keys_;  // never empty; the last seals
};

}  // namespace fleetgate::pki
