#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

struct evp_pkey_st;

namespace fleetgate::pki {

enum class KeyType { kEcP256, kRsa2048 };

// Owns one asymmetric key pair (or a public key alone). Move-only.
class PrivateKey {
 public:
  static Result<PrivateKey> generate(KeyType type);
  // PKCS#8, PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY") PEM. Only RSA >= 2048 bits
  // and EC P-256 keys, unencrypted; anything else is InvalidRequestException.
  static Result<PrivateKey> fromPem(std::string_view pem);

  KeyType type() const;
  // RSA keys as PKCS#1 "RSA PRIVATE KEY" (what AWS returns), EC keys as SEC1 "EC PRIVATE KEY".
  std::string privateKeyPem() const;
  // SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----".
  std::string publicKeyPem() const;
  std::string publicKeyDer() const;

  evp_pkey_st* native() const { return key_.get(); }
  explicit PrivateKey(evp_pkey_st* owned);

 private:
  struct Free {
    void operator()(evp_pkey_st* k) const;
  };
  std::unique_ptr<evp_pkey_st, Free> key_;
};

}  // namespace fleetgate::pki
