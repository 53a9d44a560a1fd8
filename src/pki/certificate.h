#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

struct x509_st;

namespace fleetgate::pki {

// Attributes of an X.509 name in certificate order, keyed by OpenSSL short names
// ("C", "ST", "L", "O", "OU", "CN", "serialNumber", "dnQualifier", "title", "SN", "GN",
// "initials", "pseudonym", "generationQualifier", "emailAddress", ...).
struct DistinguishedName {
  std::vector<std::pair<std::string, std::string>> attributes;

  // First value of the attribute, or nullopt.
  std::optional<std::string> first(std::string_view short_name) const;
  std::vector<std::string> all(std::string_view short_name) const;
  // RFC 2253 rendering, e.g. "CN=device-1,O=Acme".
  std::string toString() const;
};

struct SubjectAltNames {
  std::vector<std::string> dns;
  std::vector<std::string> email;
  std::vector<std::string> uri;
  std::vector<std::string> ip;
};

// A parsed X.509 certificate. Immutable, cheap to copy (shared handle).
class Certificate {
 public:
  // Exactly one certificate PEM block (leading/trailing text ignored). Errors are
  // CertificateValidationException with a client-safe message.
  static Result<Certificate> fromPem(std::string_view pem);
  // Every CERTIFICATE block in order; at least one.
  static Result<std::vector<Certificate>> chainFromPem(std::string_view pem);
  static Result<Certificate> fromDer(std::string_view der);

  const std::string& der() const;
  std::string pem() const;
  // Lowercase hex SHA-256 of the DER encoding: the AWS certificate id.
  const std::string& id() const;

  DistinguishedName subject() const;
  DistinguishedName issuer() const;
  // DER of the subject / issuer names, for exact issuer matching.
  std::string subjectNameDer() const;
  std::string issuerNameDer() const;
  SubjectAltNames subjectAltNames() const;
  std::string serialHex() const;  // uppercase hex without leading zeros, as openssl prints
  TimePoint notBefore() const;
  TimePoint notAfter() const;
  bool isCa() const;               // basicConstraints CA:TRUE
  bool isSelfIssued() const;       // subject == issuer
  std::string publicKeyDer() const;  // SubjectPublicKeyInfo DER
  // Name of the signature algorithm, e.g. "ecdsa-with-SHA256", "sha256WithRSAEncryption".
  std::string signatureAlgorithm() const;

  // RSA >= 2048 bits or EC on P-256/P-384/P-521, and a signature algorithm AWS supports
  // (SHA-256/384/512 with RSA, DSA or ECDSA). CertificateValidationException otherwise.
  Status checkAcceptable() const;
  // True when `issuer`'s subject equals this certificate's issuer name and its public key
  // verifies this certificate's signature.
  bool isSignedBy(const Certificate& issuer) const;
  bool isValidAt(TimePoint t) const;

  x509_st* native() const;

 private:
  friend class CertificateAuthority;
  struct Data;
  explicit Certificate(std::shared_ptr<const Data> data);
  // Takes ownership of a parsed or in-process built certificate; `der` is its encoding when
  // the caller already has it. Built certificates skip a DER round trip this way.
  static Result<Certificate> adopt(x509_st* owned, std::string der = {});
  std::shared_ptr<const Data> data_;
};

// Verifies leaf -> intermediates -> anchor at time `at`: signatures, validity dates,
// CA basic constraints and path length. The anchor is trusted as given (it may itself be an
// intermediate CA registered by the customer). CertificateValidationException on failure.
Status verifyChain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                   const Certificate& anchor, TimePoint at);

}  // namespace fleetgate::pki
