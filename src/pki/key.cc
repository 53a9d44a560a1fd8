#include "pki/key.h"

#include <openssl/encoder.h>
#include <openssl/pem.h>

#include "pki/openssl_util.h"

namespace fleetgate::pki {
namespace {

constexpr ErrorKind kInvalid = ErrorKind::kInvalidRequest;

enum class KeyEncoding { kPkcs8, kPkcs1, kSec1 };

std::optional<KeyEncoding> encodingOf(std::string_view label) {
  if (label == "PRIVATE KEY") return KeyEncoding::kPkcs8;
  if (label == "RSA PRIVATE KEY") return KeyEncoding::kPkcs1;
  if (label == "EC PRIVATE KEY") return KeyEncoding::kSec1;
  return std::nullopt;
}

internal::EvpPkeyPtr decodePrivateKey(KeyEncoding encoding, std::string_view der) {
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  const auto length = static_cast<long>(der.size());
  internal::EvpPkeyPtr key;
  switch (encoding) {
    case KeyEncoding::kPkcs8: {
      std::unique_ptr<PKCS8_PRIV_KEY_INFO,
                      internal::Deleter<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>>
          info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, length));
      if (info != nullptr) key.reset(EVP_PKCS82PKEY(info.get()));
      break;
    }
    case KeyEncoding::kPkcs1:
      key.reset(d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, length));
      break;
    case KeyEncoding::kSec1:
      key.reset(d2i_PrivateKey(EVP_PKEY_EC, nullptr, &p, length));
      break;
  }
  if (key != nullptr && p != begin + der.size()) key.reset();  // trailing garbage
  return key;
}

}  // namespace

void PrivateKey::Free::operator()(evp_pkey_st* k) const { EVP_PKEY_free(k); }

PrivateKey::PrivateKey(evp_pkey_st* owned) : key_(owned) {}

Result<PrivateKey> PrivateKey::generate(KeyType type) {
  return internal::generateKey(type, nullptr);
}

Result<PrivateKey> PrivateKey::fromPem(std::string_view pem) {
  FG_ASSIGN_OR_RETURN(auto blocks, internal::parsePem(pem, kInvalid));
  const internal::PemBlock* found = nullptr;
  for (const auto& block : blocks) {
    if (block.label == "ENCRYPTED PRIVATE KEY") {
      return Error(kInvalid, "encrypted private keys are not supported");
    }
    if (!encodingOf(block.label)) continue;  // e.g. the "EC PARAMETERS" block of `openssl ecparam`
    if (found != nullptr) return Error(kInvalid, "expected exactly one private key PEM block");
    found = &block;
  }
  if (found == nullptr) return Error(kInvalid, "no private key PEM block found");

  internal::ErrorScope scope;
  internal::EvpPkeyPtr key = decodePrivateKey(*encodingOf(found->label), found->der);
  if (key == nullptr) return internal::opensslError(kInvalid, "private key could not be parsed");
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key.get()) < 2048) {
        return Error(kInvalid, "RSA private keys must be at least 2048 bits");
      }
      break;
    case EVP_PKEY_EC:
      if (std::string problem = internal::keyStrengthProblem(key.get()); !problem.empty()) {
        return Error(kInvalid, problem);
      }
      if (EVP_PKEY_get_bits(key.get()) != 256) {
        return Error(kInvalid, "EC private keys must use curve P-256");
      }
      break;
    default:
      return Error(kInvalid, "private keys must be RSA or EC P-256");
  }
  // A key file whose public half does not match its private half would sign certificates that
  // nothing verifies; catch it at load time.
  internal::EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_pairwise_check(check.get()) != 1) {
    return internal::opensslError(kInvalid, "private key is inconsistent");
  }
  return PrivateKey(key.release());
}

KeyType PrivateKey::type() const {
  return key_ != nullptr && EVP_PKEY_get_base_id(key_.get()) == EVP_PKEY_RSA ? KeyType::kRsa2048
                                                                             : KeyType::kEcP256;
}

std::string PrivateKey::privateKeyPem() const {
  if (key_ == nullptr) return {};
  internal::ErrorScope scope;
  // "type-specific" selects the traditional PKCS#1 / SEC1 structures instead of PKCS#8.
  std::unique_ptr<OSSL_ENCODER_CTX, internal::Deleter<OSSL_ENCODER_CTX, OSSL_ENCODER_CTX_free>>
      encoder(OSSL_ENCODER_CTX_new_for_pkey(key_.get(), EVP_PKEY_KEYPAIR, "PEM", "type-specific",
                                            nullptr));
  unsigned char* data = nullptr;
  std::size_t length = 0;
  if (encoder == nullptr || OSSL_ENCODER_to_data(encoder.get(), &data, &length) != 1) return {};
  std::string out(reinterpret_cast<const char*>(data), length);
  OPENSSL_clear_free(data, length);
  return out;
}

std::string PrivateKey::publicKeyPem() const {
  std::string der = publicKeyDer();
  return der.empty() ? std::string() : internal::toPem("PUBLIC KEY", der);
}

std::string PrivateKey::publicKeyDer() const {
  if (key_ == nullptr) return {};
  internal::ErrorScope scope;
  return internal::i2dString<EVP_PKEY>(key_.get(), i2d_PUBKEY);
}

}  // namespace fleetgate::pki
