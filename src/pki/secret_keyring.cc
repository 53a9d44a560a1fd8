#include "pki/secret_keyring.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "common/encoding.h"

namespace fleetgate::pki {
namespace {

constexpr std::string_view kKeyLine = "fleetgate-secret-key-v1";
// sealed := "fgsealed1:" key-id ":" base64(nonce || ciphertext || tag)
constexpr std::string_view kSealedPrefix = "fgsealed1:";
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx newContext() { return CipherCtx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free); }

const unsigned char* bytesOf(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

SecretKeyring::Key SecretKeyring::freshKey() {
  Key key;
  std::array<std::uint8_t, 8> id{};
  if (RAND_bytes(key.bytes.data(), static_cast<int>(key.bytes.size())) != 1 ||
      RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    std::abort();  // no randomness: nothing secret can be made safely
  }
  key.id = hexEncode(id);
  return key;
}

SecretKeyring SecretKeyring::generate() { return SecretKeyring({freshKey()}); }

Result<SecretKeyring> SecretKeyring::parse(std::string_view text) {
  std::vector<Key> keys;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields(line);
    std::string tag, id, encoded, extra;
    fields >> tag >> id >> encoded;
    const auto decoded = base64Decode(encoded);
    if (tag != kKeyLine || id.size() != 16 || id.find_first_not_of("0123456789abcdef") != id.npos ||
        !decoded || decoded->size() != 32 || (fields >> extra)) {
      return Error(ErrorKind::kInvalidRequest,
                   "line " + std::to_string(number) + " of the secrets key file is not `" +
                       std::string(kKeyLine) + " <16 hex digits> <base64 of 32 bytes>`");
    }
    Key key;
    key.id = id;
    std::copy(decoded->begin(), decoded->end(), key.bytes.begin());
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return Error(ErrorKind::kInvalidRequest, "the secrets key file holds no key");
  return SecretKeyring(std::move(keys));
}

std::string SecretKeyring::serialize() const {
  std::string out =
      "# fleetgate secrets key: keep it 0600 and apart from backups of the database.\n"
      "# The last key seals; every key opens. Rotate with `fleetgate secrets rotate-key`.\n";
  for (const Key& key : keys_) {
    out += std::string(kKeyLine) + " " + key.id + " " +
           base64Encode(std::string_view(reinterpret_cast<const char*>(key.bytes.data()),
                                         key.bytes.size())) +
           "\n";
  }
  return out;
}

bool SecretKeyring::holds(std::string_view key_id) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](const Key& k) { return k.id == key_id; });
}

void SecretKeyring::rotate() { keys_.push_back(freshKey()); }

void SecretKeyring::dropOldKeys() { keys_.erase(keys_.begin(), keys_.end() - 1); }

std::string SecretKeyring::seal(std::string_view plaintext, std::string_view context) const {
  const Key& key = keys_.back();
  std::string blob(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(blob.data());
  if (RAND_bytes(out, static_cast<int>(kNonceBytes)) != 1) std::abort();
  CipherCtx ctx = newContext();
  int n = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), out) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, bytesOf(context), static_cast<int>(context.size())) ==
          1 &&
      EVP_EncryptUpdate(ctx.get(), out + kNonceBytes, &n, bytesOf(plaintext),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), out + kNonceBytes + n, &n) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out + kNonceBytes + plaintext.size()) == 1;
  if (!ok) std::abort();  // AES-GCM with a valid key cannot fail short of a broken library
  return std::string(kSealedPrefix) + key.id + ":" + base64Encode(blob);
}

bool SecretKeyring::isSealed(std::string_view value) { return value.starts_with(kSealedPrefix); }

std::string_view SecretKeyring::sealedKeyId(std::string_view value) {
  if (!isSealed(value)) return {};
  value.remove_prefix(kSealedPrefix.size());
  return value.substr(0, value.find(':'));
}

Result<std::string> SecretKeyring::open(std::string_view sealed, std::string_view context) const {
  const std::string_view id = sealedKeyId(sealed);
  const std::size_t body_at = kSealedPrefix.size() + id.size() + 1;
  const auto blob = body_at <= sealed.size() ? base64Decode(sealed.substr(body_at)) : std::nullopt;
  if (id.empty() || !blob || blob->size() < kNonceBytes + kTagBytes) {
    return internalError("a stored secret is not in the sealed form");
  }
  const auto found =
      std::find_if(keys_.begin(), keys_.end(), [&](const Key& k) { return k.id == id; });
  const Key* key = found == keys_.end() ? nullptr : &*found;
  if (key == nullptr) {
    return environmentError("a stored secret is sealed with key " + std::string(id) +
                            ", which the secrets key file does not hold");
  }
  const std::size_t length = blob->size() - kNonceBytes - kTagBytes;
  const auto* in = bytesOf(*blob);
  std::string plaintext(length, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  std::array<unsigned char, kTagBytes> tag{};
  std::copy(in + kNonceBytes + length, in + blob->size(), tag.begin());
  CipherCtx ctx = newContext();
  int n = 0;
  const bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->bytes.data(), in) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, bytesOf(context), static_cast<int>(context.size())) ==
          1 &&
      EVP_DecryptUpdate(ctx.get(), out, &n, in + kNonceBytes, static_cast<int>(length)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), out + n, &n) == 1;
  if (!ok) return internalError("a stored secret does not open under key " + std::string(id));
  return plaintext;
}

}  // namespace fleetgate::pki
