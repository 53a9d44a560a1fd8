#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/random.h"
#include "pki/certificate.h"
#include "pki/certificate_request.h"
#include "pki/signer.h"

namespace fleetgate::pki {

// What goes into a certificate the authority issues.
struct IssueProfile {
  DistinguishedName subject;
  TimePoint not_before;
  TimePoint not_after;
  bool is_ca = false;
  std::optional<int> path_length;    // for CA certificates
  std::vector<std::string> dns_names;  // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, textual
  bool server_auth = false;  // extendedKeyUsage serverAuth (else clientAuth for leaves)
};

// A CA certificate plus the Signer that holds its key. Issues X.509 v3 certificates with a
// random 128-bit serial, SHA-256 signatures, SKI/AKI, key usage appropriate to the profile. It
// never sees the private key: the signer signs the encoded to-be-signed certificate. Copies
// share the signer.
class CertificateAuthority {
 public:
  CertificateAuthority(Certificate certificate, std::shared_ptr<const Signer> signer);
  // Like the constructor, but checks that `signer` holds the key of `certificate` and that the
  // certificate is a CA (basicConstraints CA:TRUE). For CAs loaded from files or a store.
  static Result<CertificateAuthority> create(Certificate certificate,
                                             std::shared_ptr<const Signer> signer);

  // A self-signed CA certificate for the signer's key.
  static Result<Certificate> selfSign(const Signer& signer, const IssueProfile& profile,
                                      Random& random);

  Result<Certificate> issue(const std::string& subject_public_key_der, const IssueProfile& profile,
                            Random& random) const;
  Result<Certificate> issueForRequest(const CertificateRequest& request,
                                      const IssueProfile& profile, Random& random) const;

  const Certificate& certificate() const { return certificate_; }

 private:
  Certificate certificate_;
  std::shared_ptr<const Signer> signer_;
  std::string key_id_;  // authorityKeyIdentifier of every certificate this CA issues
};

}  // namespace fleetgate::pki
