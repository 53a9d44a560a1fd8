#include "pki/issuer.h"

#include "pki/openssl_util.h"

namespace fleetgate::pki {
namespace {

using namespace std::chrono;

constexpr ErrorKind kInvalid = ErrorKind::kInvalidRequest;

// The parse refuses what no policy accepts (RSA below 2048 bits, other curves); the policy may
// ask for more.
Status checkKey(const IssuancePolicy& policy, const IssueRequest& request) {
  FG_ASSIGN_OR_RETURN(auto key, internal::parsePublicKey(request.public_key_der));
  if (EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_RSA &&
      EVP_PKEY_get_bits(key.get()) < policy.min_rsa_bits) {
    return Error(kInvalid, "public key not accepted: RSA keys must be at least " +
                               std::to_string(policy.min_rsa_bits) + " bits");
  }
  return {};
}

Status checkNames(const IssuancePolicy& policy, const IssueRequest& request) {
  const bool has_alt_names = !request.dns_names.empty() || !request.ip_addresses.empty();
  if (has_alt_names && !policy.allow_subject_alt_names) {
    return Error(kInvalid, "subject alternative names are not allowed in this certificate");
  }
  FG_RETURN_IF_ERROR(internal::checkAltNames(request.dns_names, request.ip_addresses));
  // RFC 5280 §4.1.2.6: a certificate with an empty subject is identified by its alternative names.
  if (!policy.subject && request.subject.attributes.empty() && !has_alt_names) {
    return Error(kInvalid, "the certificate needs a subject or subject alternative names");
  }
  return {};
}

Status checkValidity(const IssuancePolicy& policy, const IssueRequest& request, TimePoint now) {
  if (!request.not_after) return {};
  if (*request.not_after <= now) return Error(kInvalid, "the requested validity has already ended");
  if (*request.not_after > policy.latest_not_after) {
    return Error(kInvalid, "the requested validity ends later than this CA allows");
  }
  return {};
}

Status checkCaConstraints(const IssuancePolicy& policy, const IssueRequest& request) {
  if (!request.is_ca) {
    if (request.path_length) return Error(kInvalid, "only a CA certificate has a path length");
    return {};
  }
  if (!policy.allow_ca) return Error(kInvalid, "this CA does not issue CA certificates");
  if (!request.path_length || *request.path_length > policy.max_path_length) {
    return Error(kInvalid, "a CA certificate from this CA must have a path length of at most " +
                               std::to_string(policy.max_path_length));
  }
  return {};
}

IssueProfile profileFor(const IssuancePolicy& policy, const IssueRequest& request, TimePoint now) {
  IssueProfile profile;
  profile.subject = policy.subject.value_or(request.subject);
  profile.not_before = now - policy.backdate;
  profile.not_after = request.not_after.value_or(policy.latest_not_after);
  profile.is_ca = request.is_ca;
  profile.path_length = request.path_length;
  profile.dns_names = request.dns_names;
  profile.ip_addresses = request.ip_addresses;
  return profile;
}

}  // namespace

IssueRequest IssueRequest::forCsr(const CertificateRequest& csr) {
  IssueRequest request;
  request.public_key_der = csr.publicKeyDer();
  request.subject = csr.subject();
  return request;
}

IssuancePolicy deviceCertificatePolicy() {
  IssuancePolicy policy;
  policy.latest_not_after = sys_days{year{2050} / January / 1} - seconds{1};
  policy.subject = DistinguishedName{{{"CN", "AWS IoT Certificate"}}};
  policy.backdate = hours(1);
  return policy;
}

Issuer::Issuer(const CertificateAuthority& ca, IssuancePolicy policy, const Clock& clock,
               Random& random)
    : ca_(ca), policy_(std::move(policy)), clock_(clock), random_(random) {}

Result<Certificate> Issuer::issue(const IssueRequest& request) const {
  internal::ErrorScope scope;
  const TimePoint now = clock_.now();
  FG_RETURN_IF_ERROR(checkKey(policy_, request));
  FG_RETURN_IF_ERROR(checkNames(policy_, request));
  FG_RETURN_IF_ERROR(checkValidity(policy_, request, now));
  FG_RETURN_IF_ERROR(checkCaConstraints(policy_, request));
  return ca_.issue(request.public_key_der, profileFor(policy_, request, now), random_);
}

Result<Certificate> Issuer::issueForCsr(std::string_view csr_pem) const {
  if (csr_pem.empty() || csr_pem.size() > policy_.max_csr_length) {
    return Error(kInvalid, "certificateSigningRequest must be 1 to " +
                               std::to_string(policy_.max_csr_length) + " characters long.");
  }
  FG_ASSIGN_OR_RETURN(auto csr, CertificateRequest::fromPem(csr_pem));
  return issue(IssueRequest::forCsr(csr));
}

}  // namespace fleetgate::pki
