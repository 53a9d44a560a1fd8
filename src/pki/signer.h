#pragma once

// The seam where a CA's (or a device's) private key plugs in. Everything that signs a
// certificate or a CSR in this module goes through a Signer and hands it only the bytes to sign:
// the to-be-signed encoding comes in, the signature X.509 expects goes out. SoftwareSigner holds
// a PrivateKey in memory (a key file); a PKCS#11 token (CA keys in an HSM, device keys in a
// secure element) or an external signing service is another implementation of the same three
// functions, and CertificateAuthority, CertificateRequest::createPem and Issuer take it as is.
// Implementations must be thread-safe: one CA signer serves every request thread.

#include <string>
#include <string_view>

#include "common/error.h"
#include "pki/key.h"

namespace fleetgate::pki {

// Always with a SHA-256 digest, which every AWS IoT client verifies.
enum class SignatureAlgorithm {
  kEcdsaSha256,     // ecdsa-with-SHA256; signature is a DER ECDSA-Sig-Value
  kRsaPkcs1Sha256,  // sha256WithRSAEncryption; signature is PKCS#1 v1.5
};

class Signer {
 public:
  virtual ~Signer() = default;
  // SubjectPublicKeyInfo DER of the signing key.
  virtual std::string publicKeyDer() const = 0;
  virtual SignatureAlgorithm algorithm() const = 0;
  // The signature over `data` (the signer hashes it), encoded as algorithm() says.
  virtual Result<std::string> sign(std::string_view data) const = 0;
};

// A key held in this process's memory.
class SoftwareSigner final : public Signer {
 public:
  explicit SoftwareSigner(PrivateKey key);

  std::string publicKeyDer() const override { return key_.publicKeyDer(); }
  SignatureAlgorithm algorithm() const override;
  Result<std::string> sign(std::string_view data) const override;

 private:
  PrivateKey key_;
};

}  // namespace fleetgate::pki
