#include "pki/authority.h"

#include <array>

#include "pki/openssl_util.h"

namespace fleetgate::pki {
namespace {

using internal::X509Ptr;

constexpr ErrorKind kInvalid = ErrorKind::kInvalidRequest;
constexpr int kMaxPathLength = 16;

// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
std::string keyIdentifier(const X509_PUBKEY* key) {
  const unsigned char* bits = nullptr;
  int length = 0;
  if (key == nullptr || X509_PUBKEY_get0_param(nullptr, &bits, &length, nullptr, key) != 1) {
    return {};
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_length = 0;
  if (EVP_Digest(bits, static_cast<std::size_t>(length), digest.data(), &digest_length, EVP_sha1(),
                 nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), digest_length);
}

// The CA's own SKI when it has one, so AKI matches what chain builders compare it with.
std::string authorityKeyIdentifier(const Certificate& certificate) {
  if (certificate.native() == nullptr) return {};
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(certificate.native())) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                       static_cast<std::size_t>(ASN1_STRING_length(ski)));
  }
  return keyIdentifier(X509_get_X509_PUBKEY(certificate.native()));
}

Status setTime(ASN1_TIME* field, TimePoint t) {
  // ASN1_TIME_set picks UTCTime up to 2049 and GeneralizedTime after, as RFC 5280 requires.
  if (ASN1_TIME_set(field, static_cast<time_t>(internal::toUnixSeconds(t))) == nullptr) {
    return internal::opensslError(kInvalid, "certificate validity time is out of range");
  }
  return {};
}

Status setSerial(X509* x509, Random& random) {
  std::array<std::uint8_t, 16> bytes{};
  random.fill(bytes);
  bytes[0] &= 0x7f;   // DER INTEGER sign bit: serials must be positive
  bytes[15] |= 0x01;  // and non-zero
  internal::BignumPtr serial(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x509)) == nullptr) {
    return internalError("serial number: " + internal::drainErrors());
  }
  return {};
}

Status addExtension(X509* x509, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(x509, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return internalError("extension " + std::string(OBJ_nid2sn(nid)) + ": " +
                         internal::drainErrors());
  }
  return {};
}

Result<internal::GeneralNamesPtr> altNames(const IssueProfile& profile) {
  internal::GeneralNamesPtr names(GENERAL_NAMES_new());
  if (names == nullptr) return internalError("subjectAltName: out of memory");
  auto push = [&](int type, ASN1_STRING* value) -> Status {
    internal::GeneralNamePtr name(GENERAL_NAME_new());
    if (name == nullptr || value == nullptr) {
      ASN1_STRING_free(value);
      return internalError("subjectAltName: out of memory");
    }
    GENERAL_NAME_set0_value(name.get(), type, value);
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
      return internalError("subjectAltName: out of memory");
    }
    name.release();
    return {};
  };
  FG_RETURN_IF_ERROR(internal::checkAltNames(profile.dns_names, profile.ip_addresses));
  for (const auto& dns : profile.dns_names) {
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (value != nullptr && ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(value);
      value = nullptr;
    }
    FG_RETURN_IF_ERROR(push(GEN_DNS, value));
  }
  for (const auto& ip : profile.ip_addresses) {
    const std::string address = *internal::ipAddressBytes(ip);  // checked above
    ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
    if (value != nullptr &&
        ASN1_OCTET_STRING_set(value, reinterpret_cast<const unsigned char*>(address.data()),
                              static_cast<int>(address.size())) != 1) {
      ASN1_OCTET_STRING_free(value);
      value = nullptr;
    }
    FG_RETURN_IF_ERROR(push(GEN_IPADD, value));
  }
  return names;
}

Status addExtensions(X509* x509, const IssueProfile& profile, EVP_PKEY* subject_key,
                     const std::string& subject_key_id, const std::string& issuer_key_id) {
  internal::BasicConstraintsPtr constraints(BASIC_CONSTRAINTS_new());
  if (constraints == nullptr) return internalError("basicConstraints: out of memory");
  constraints->ca = profile.is_ca ? 0xff : 0;
  if (profile.is_ca && profile.path_length) {
    constraints->pathlen = ASN1_INTEGER_new();
    if (constraints->pathlen == nullptr ||
        ASN1_INTEGER_set(constraints->pathlen, *profile.path_length) != 1) {
      return internalError("basicConstraints: out of memory");
    }
  }
  FG_RETURN_IF_ERROR(addExtension(x509, NID_basic_constraints, constraints.get(), true));

  // Bit numbers from RFC 5280 §4.2.1.3.
  constexpr int kDigitalSignature = 0, kKeyEncipherment = 2, kKeyCertSign = 5, kCrlSign = 6;
  internal::Asn1BitStringPtr usage(ASN1_BIT_STRING_new());
  if (usage == nullptr) return internalError("keyUsage: out of memory");
  std::vector<int> bits{kDigitalSignature};
  if (profile.is_ca) {
    bits.insert(bits.end(), {kKeyCertSign, kCrlSign});
  } else if (EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA) {
    bits.push_back(kKeyEncipherment);
  }
  for (int bit : bits) {
    if (ASN1_BIT_STRING_set_bit(usage.get(), bit, 1) != 1) {
      return internalError("keyUsage: out of memory");
    }
  }
  FG_RETURN_IF_ERROR(addExtension(x509, NID_key_usage, usage.get(), true));

  if (!profile.is_ca) {
    internal::ExtendedKeyUsagePtr extended(sk_ASN1_OBJECT_new_null());
    ASN1_OBJECT* purpose = OBJ_nid2obj(profile.server_auth ? NID_server_auth : NID_client_auth);
    if (extended == nullptr || purpose == nullptr ||
        sk_ASN1_OBJECT_push(extended.get(), purpose) <= 0) {
      return internalError("extendedKeyUsage: out of memory");
    }
    FG_RETURN_IF_ERROR(addExtension(x509, NID_ext_key_usage, extended.get(), false));
  }

  internal::Asn1OctetStringPtr ski(ASN1_OCTET_STRING_new());
  if (ski == nullptr ||
      ASN1_OCTET_STRING_set(ski.get(),
                            reinterpret_cast<const unsigned char*>(subject_key_id.data()),
                            static_cast<int>(subject_key_id.size())) != 1) {
    return internalError("subjectKeyIdentifier: out of memory");
  }
  FG_RETURN_IF_ERROR(addExtension(x509, NID_subject_key_identifier, ski.get(), false));

  internal::AuthorityKeyIdPtr aki(AUTHORITY_KEYID_new());
  if (aki != nullptr) aki->keyid = ASN1_OCTET_STRING_new();
  if (aki == nullptr || aki->keyid == nullptr ||
      ASN1_OCTET_STRING_set(aki->keyid,
                            reinterpret_cast<const unsigned char*>(issuer_key_id.data()),
                            static_cast<int>(issuer_key_id.size())) != 1) {
    return internalError("authorityKeyIdentifier: out of memory");
  }
  FG_RETURN_IF_ERROR(addExtension(x509, NID_authority_key_identifier, aki.get(), false));

  if (!profile.dns_names.empty() || !profile.ip_addresses.empty()) {
    FG_ASSIGN_OR_RETURN(auto names, altNames(profile));
    // RFC 5280 §4.2.1.6: with an empty subject the alternative names carry the identity.
    const bool critical = profile.subject.attributes.empty();
    FG_RETURN_IF_ERROR(addExtension(x509, NID_subject_alt_name, names.get(), critical));
  }
  return {};
}

// OpenSSL 3.0 signs a certificate only with a key it holds (X509_sign), while a key in a token
// signs bytes: so this fills in what X509_sign would, with the signer's signature over the
// encoded TBSCertificate. 3.0 has no setters for the algorithm and signature fields; the getters
// point into `x509`, which is not a const object, so writing through them is sound.
Status signCertificate(X509* x509, const Signer& signer) {
  const ASN1_BIT_STRING* signature = nullptr;
  const X509_ALGOR* algorithm = nullptr;
  X509_get0_signature(&signature, &algorithm, x509);
  FG_RETURN_IF_ERROR(internal::setSignatureAlgorithm(
      const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(x509)), signer.algorithm()));
  FG_RETURN_IF_ERROR(
      internal::setSignatureAlgorithm(const_cast<X509_ALGOR*>(algorithm), signer.algorithm()));
  const std::string to_be_signed = internal::toBeSignedString(x509, i2d_re_X509_tbs);
  if (to_be_signed.empty()) {
    return internalError("certificate encoding: " + internal::drainErrors());
  }
  FG_ASSIGN_OR_RETURN(std::string value, signer.sign(to_be_signed));
  return internal::setSignatureValue(const_cast<ASN1_BIT_STRING*>(signature), value);
}

// Builds one certificate for the key `subject_key_der` (which it carries byte for byte) and has
// `signer` sign it; `issuer_name` is null for a self-signed one.
Result<X509Ptr> build(const IssueProfile& profile, std::string_view subject_key_der,
                      const X509_NAME* issuer_name, const std::string& issuer_key_id,
                      const Signer& signer, Random& random) {
  FG_ASSIGN_OR_RETURN(auto subject_key, internal::parsePublicKey(subject_key_der));
  if (profile.not_after <= profile.not_before) {
    return Error(kInvalid, "certificate validity period is empty");
  }
  if (profile.path_length && (*profile.path_length < 0 || *profile.path_length > kMaxPathLength)) {
    return Error(kInvalid, "certificate path length is out of range");
  }
  X509Ptr x509(X509_new());
  if (x509 == nullptr || X509_set_version(x509.get(), X509_VERSION_3) != 1) {
    return internalError("certificate: " + internal::drainErrors());
  }
  FG_RETURN_IF_ERROR(setSerial(x509.get(), random));
  // Filling the certificate's own name in place avoids copying a separately built one.
  FG_RETURN_IF_ERROR(internal::setName(X509_get_subject_name(x509.get()), profile.subject, kInvalid));
  const X509_NAME* issuer =
      issuer_name != nullptr ? issuer_name : X509_get_subject_name(x509.get());
  if (X509_set_issuer_name(x509.get(), issuer) != 1) {
    return internalError("issuer name: " + internal::drainErrors());
  }
  FG_RETURN_IF_ERROR(setTime(X509_getm_notBefore(x509.get()), profile.not_before));
  FG_RETURN_IF_ERROR(setTime(X509_getm_notAfter(x509.get()), profile.not_after));
  if (X509_set_pubkey(x509.get(), subject_key.get()) != 1) {
    return internal::opensslError(kInvalid, "public key cannot be used in a certificate");
  }
  // A legacy decoder may quietly normalise an unusual key (e.g. RSA-PSS to plain RSA); the
  // certificate must certify exactly the key it was asked to.
  if (internal::i2dString<X509_PUBKEY>(X509_get_X509_PUBKEY(x509.get()), i2d_X509_PUBKEY) !=
      subject_key_der) {
    return Error(kInvalid, "public key encoding is not supported");
  }
  const std::string subject_key_id = keyIdentifier(X509_get_X509_PUBKEY(x509.get()));
  if (subject_key_id.empty()) return internalError("subject key identifier");
  FG_RETURN_IF_ERROR(addExtensions(x509.get(), profile, subject_key.get(), subject_key_id,
                                   issuer_name != nullptr ? issuer_key_id : subject_key_id));
  FG_RETURN_IF_ERROR(signCertificate(x509.get(), signer));
  return x509;
}

}  // namespace

CertificateAuthority::CertificateAuthority(Certificate certificate,
                                           std::shared_ptr<const Signer> signer)
    : certificate_(std::move(certificate)),
      signer_(std::move(signer)),
      key_id_(authorityKeyIdentifier(certificate_)) {}

Result<CertificateAuthority> CertificateAuthority::create(Certificate certificate,
                                                          std::shared_ptr<const Signer> signer) {
  internal::ErrorScope scope;
  if (signer == nullptr) return Error(kInvalid, "no key to sign with");
  FG_ASSIGN_OR_RETURN(auto signer_key, internal::parsePublicKey(signer->publicKeyDer()));
  if (EVP_PKEY_eq(X509_get0_pubkey(certificate.native()), signer_key.get()) != 1) {
    internal::drainErrors();
    return Error(kInvalid, "the private key does not match the CA certificate");
  }
  if (!certificate.isCa()) {
    return Error(ErrorKind::kCertificateValidation, "the certificate is not a CA certificate");
  }
  return CertificateAuthority(std::move(certificate), std::move(signer));
}

Result<Certificate> CertificateAuthority::selfSign(const Signer& signer,
                                                   const IssueProfile& profile, Random& random) {
  internal::ErrorScope scope;
  FG_ASSIGN_OR_RETURN(auto x509,
                      build(profile, signer.publicKeyDer(), nullptr, {}, signer, random));
  return Certificate::adopt(x509.release());
}

Result<Certificate> CertificateAuthority::issue(const std::string& subject_public_key_der,
                                                const IssueProfile& profile, Random& random) const {
  internal::ErrorScope scope;
  FG_ASSIGN_OR_RETURN(
      auto x509, build(profile, subject_public_key_der,
                       X509_get_subject_name(certificate_.native()), key_id_, *signer_, random));
  return Certificate::adopt(x509.release());
}

Result<Certificate> CertificateAuthority::issueForRequest(const CertificateRequest& request,
                                                          const IssueProfile& profile,
                                                          Random& random) const {
  // Only the public key is taken from the request: its subject and requested extensions are
  // the device's wishes, the profile is the policy. Going through the DER (rather than the
  // request's decoded key) takes the fast key path of parsePublicKey.
  return issue(request.publicKeyDer(), profile, random);
}

}  // namespace fleetgate::pki
