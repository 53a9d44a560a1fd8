#include "pki/certificate_request.h"

#include "pki/openssl_util.h"

namespace fleetgate::pki {

struct CertificateRequest::Data {
  internal::X509ReqPtr request;
};

namespace {
constexpr ErrorKind kInvalid = ErrorKind::kInvalidRequest;
}  // namespace

CertificateRequest::CertificateRequest(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

Result<std::string> CertificateRequest::createPem(const Signer& signer,
                                                  const DistinguishedName& subject) {
  internal::ErrorScope scope;
  FG_ASSIGN_OR_RETURN(auto key, internal::parsePublicKey(signer.publicKeyDer()));
  internal::X509ReqPtr request(X509_REQ_new());
  if (request == nullptr || X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_REQ_set_pubkey(request.get(), key.get()) != 1) {
    return internal::opensslError(ErrorKind::kInternalFailure, "cannot build a CSR");
  }
  FG_RETURN_IF_ERROR(
      internal::setName(X509_REQ_get_subject_name(request.get()), subject, kInvalid));
  // What X509_REQ_sign does, with the signer's signature over the CertificationRequestInfo.
  const std::string to_be_signed = internal::toBeSignedString(request.get(), i2d_re_X509_REQ_tbs);
  if (to_be_signed.empty()) {
    return internal::opensslError(ErrorKind::kInternalFailure, "cannot encode the CSR");
  }
  FG_ASSIGN_OR_RETURN(std::string signature, signer.sign(to_be_signed));
  internal::X509AlgorPtr algorithm(X509_ALGOR_new());
  internal::Asn1BitStringPtr value(ASN1_BIT_STRING_new());
  if (algorithm == nullptr || value == nullptr) return internalError("CSR: out of memory");
  FG_RETURN_IF_ERROR(internal::setSignatureAlgorithm(algorithm.get(), signer.algorithm()));
  FG_RETURN_IF_ERROR(internal::setSignatureValue(value.get(), signature));
  if (X509_REQ_set1_signature_algo(request.get(), algorithm.get()) != 1) {
    return internal::opensslError(ErrorKind::kInternalFailure, "cannot sign the CSR");
  }
  X509_REQ_set0_signature(request.get(), value.release());
  return internal::toPem("CERTIFICATE REQUEST", internal::i2dString(request.get(), i2d_X509_REQ));
}

Result<std::string> CertificateRequest::createPem(const PrivateKey& key,
                                                  const DistinguishedName& subject) {
  if (key.native() == nullptr) return internalError("no key to sign the CSR with");
  // The signer owns a reference of its own to the key, which stays the caller's.
  EVP_PKEY_up_ref(key.native());
  return createPem(SoftwareSigner(PrivateKey(key.native())), subject);
}

Result<CertificateRequest> CertificateRequest::fromPem(std::string_view pem) {
  FG_ASSIGN_OR_RETURN(auto blocks, internal::parsePem(pem, kInvalid));
  const internal::PemBlock* found = nullptr;
  for (const auto& block : blocks) {
    // "NEW CERTIFICATE REQUEST" is what some older tools (Windows certreq, keytool) write.
    if (block.label != "CERTIFICATE REQUEST" && block.label != "NEW CERTIFICATE REQUEST") continue;
    if (found != nullptr) {
      return Error(kInvalid, "expected exactly one CERTIFICATE REQUEST PEM block");
    }
    found = &block;
  }
  if (found == nullptr) return Error(kInvalid, "no CERTIFICATE REQUEST PEM block found");

  internal::ErrorScope scope;
  const auto* begin = reinterpret_cast<const unsigned char*>(found->der.data());
  const unsigned char* p = begin;
  internal::X509ReqPtr request(d2i_X509_REQ(nullptr, &p, static_cast<long>(found->der.size())));
  if (request == nullptr) {
    return internal::opensslError(kInvalid, "certificate signing request could not be parsed");
  }
  if (p != begin + found->der.size()) {
    return Error(kInvalid, "certificate signing request has trailing data");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(request.get());
  if (key == nullptr) {
    return internal::opensslError(kInvalid,
                                  "certificate signing request has an unsupported public key");
  }
  if (std::string problem = internal::keyStrengthProblem(key); !problem.empty()) {
    return Error(kInvalid, "certificate signing request not accepted: " + problem);
  }
  if (X509_REQ_verify(request.get(), key) != 1) {
    return internal::opensslError(kInvalid, "certificate signing request signature is not valid");
  }
  auto data = std::make_shared<Data>();
  data->request = std::move(request);
  return CertificateRequest(std::move(data));
}

DistinguishedName CertificateRequest::subject() const {
  internal::ErrorScope scope;
  return internal::toDistinguishedName(X509_REQ_get_subject_name(native()));
}

std::string CertificateRequest::publicKeyDer() const {
  internal::ErrorScope scope;
  return internal::i2dString<X509_PUBKEY>(X509_REQ_get_X509_PUBKEY(native()), i2d_X509_PUBKEY);
}

X509_req_st* CertificateRequest::native() const { return data_->request.get(); }

}  // namespace fleetgate::pki
