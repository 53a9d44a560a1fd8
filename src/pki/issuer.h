#pragma once

// One pipeline for the certificates the service issues, in the manner of step-ca's sign options:
// an IssueRequest (a public key or a parsed CSR, plus what the requester asks for) passes the
// validators in a fixed order (key type and strength, subject and alternative names, validity
// cap, CA constraints), then the profile decides the certificate's contents, then the CA's
// Signer signs. A refused request is never signed. What plugs in where: the rules and the
// profile are an IssuancePolicy value (deviceCertificatePolicy() for AWS IoT devices); the CA key
// is the Signer inside the CertificateAuthority (a key file today, a PKCS#11 token later). The
// registry's CreateKeysAndCertificate, CreateCertificateFromCsr and RegisterThing issue through
// an Issuer and only record the result.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/random.h"
#include "pki/authority.h"
#include "pki/certificate.h"
#include "pki/certificate_request.h"

namespace fleetgate::pki {

// What a requester asks to have certified.
struct IssueRequest {
  std::string public_key_der;  // SubjectPublicKeyInfo of the key to certify
  DistinguishedName subject;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, textual
  std::optional<TimePoint> not_after;     // none: the policy's latest_not_after
  bool is_ca = false;
  std::optional<int> path_length;  // for CA requests

  // The CSR's key and subject. Its requested extensions are not read: the policy decides them.
  static IssueRequest forCsr(const CertificateRequest& csr);
};

// The rules a request must pass, and the profile that turns it into a certificate.
struct IssuancePolicy {
  // Validators, applied in the order of these fields.
  int min_rsa_bits = 2048;  // EC keys must use P-256, P-384 or P-521 whatever this says
  bool allow_subject_alt_names = false;
  TimePoint latest_not_after;  // the validity cap
  bool allow_ca = false;
  int max_path_length = 0;  // a CA request must name a path length no longer than this

  // Profile.
  std::optional<DistinguishedName> subject;  // when set, replaces the requested subject
  // notBefore is this long before the time of issue, so devices whose clock is slightly slow
  // accept the certificate at once.
  std::chrono::seconds backdate{0};

  // Longest CSR PEM issueForCsr reads.
  std::size_t max_csr_length = 4096;
};

// AWS IoT device certificates (spec §1.5): subject "CN=AWS IoT Certificate", valid from an hour
// ago to the end of 2049, client authentication, no names or CA rights taken from the request.
IssuancePolicy deviceCertificatePolicy();

class Issuer {
 public:
  // `ca`, `clock` and `random` must outlive the issuer. Thread-safe when `random` is.
  Issuer(const CertificateAuthority& ca, IssuancePolicy policy, const Clock& clock, Random& random);

  // InvalidRequestException naming the first rule the request breaks, before anything is signed.
  Result<Certificate> issue(const IssueRequest& request) const;
  // A PEM CSR (the certificateSigningRequest parameter): its length, then its parse and
  // self-signature (CertificateRequest::fromPem), then issue().
  Result<Certificate> issueForCsr(std::string_view csr_pem) const;

 private:
  const CertificateAuthority& ca_;
  const IssuancePolicy policy_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace fleetgate::pki
