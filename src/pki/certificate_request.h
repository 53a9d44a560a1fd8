#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/signer.h"

struct X509_req_st;

namespace fleetgate::pki {

// A parsed PKCS#10 certificate signing request whose self-signature has been verified.
class CertificateRequest {
 public:
  // Parses one "CERTIFICATE REQUEST" PEM block, verifies its signature with its own public
  // key and checks the key strength (RSA >= 2048, EC P-256/384/521). Errors are
  // InvalidRequestException with a client-safe message.
  static Result<CertificateRequest> fromPem(std::string_view pem);

  // A PEM CSR for the signer's key with `subject`, signed with SHA-256 (device-side tooling:
  // factory minting, a key inside a token, the `csr` command, benchmarks).
  static Result<std::string> createPem(const Signer& signer, const DistinguishedName& subject);
  // The same for a key in memory.
  static Result<std::string> createPem(const PrivateKey& key, const DistinguishedName& subject);

  DistinguishedName subject() const;
  std::string publicKeyDer() const;

  X509_req_st* native() const;

 private:
  struct Data;
  explicit CertificateRequest(std::shared_ptr<const Data> data);
  std::shared_ptr<const Data> data_;
};

}  // namespace fleetgate::pki
