#include "pki/signer.h"

#include "pki/openssl_util.h"

namespace fleetgate::pki {

SoftwareSigner::SoftwareSigner(PrivateKey key) : key_(std::move(key)) {}

SignatureAlgorithm SoftwareSigner::algorithm() const {
  return key_.type() == KeyType::kRsa2048 ? SignatureAlgorithm::kRsaPkcs1Sha256
                                          : SignatureAlgorithm::kEcdsaSha256;
}

Result<std::string> SoftwareSigner::sign(std::string_view data) const {
  internal::ErrorScope scope;
  if (key_.native() == nullptr) return internalError("no key to sign with");
  // RSA keys sign with PKCS#1 v1.5 padding and EC keys produce a DER ECDSA-Sig-Value by
  // default: the encodings X.509 and PKCS#10 expect.
  internal::EvpMdCtxPtr context(EVP_MD_CTX_new());
  std::string signature(static_cast<std::size_t>(EVP_PKEY_get_size(key_.native())), '\0');
  std::size_t length = signature.size();
  if (context == nullptr ||
      EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key_.native()) != 1 ||
      EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return internal::opensslError(ErrorKind::kInternalFailure, "signing failed");
  }
  signature.resize(length);  // an ECDSA signature is often shorter than its maximum
  return signature;
}

}  // namespace fleetgate::pki
