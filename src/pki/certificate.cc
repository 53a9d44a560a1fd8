#include "pki/certificate.h"

#include <array>

#include "pki/digest.h"
#include "pki/openssl_util.h"

namespace fleetgate::pki {

using internal::ErrorScope;
using internal::opensslError;
using internal::X509Ptr;

struct Certificate::Data {
  X509Ptr x509;
  std::string der;
  std::string id;
  TimePoint not_before;
  TimePoint not_after;
};

namespace {

constexpr ErrorKind kInvalid = ErrorKind::kCertificateValidation;
constexpr std::string_view kCertificateLabel = "CERTIFICATE";

// RFC 4514 escaping of one attribute value.
void appendEscaped(std::string& out, std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const bool special =
        c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';';
    const bool edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.size() && c == ' ');
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += {'\\', kHex[byte >> 4], kHex[byte & 15]};
    } else {
      if (special || edge) out.push_back('\\');
      out.push_back(c);
    }
  }
}

}  // namespace

std::optional<std::string> DistinguishedName::first(std::string_view short_name) const {
  for (const auto& [key, value] : attributes) {
    if (key == short_name) return value;
  }
  return std::nullopt;
}

std::vector<std::string> DistinguishedName::all(std::string_view short_name) const {
  std::vector<std::string> out;
  for (const auto& [key, value] : attributes) {
    if (key == short_name) out.push_back(value);
  }
  return out;
}

std::string DistinguishedName::toString() const {
  // RFC 2253 lists the most specific attribute first, the reverse of certificate order.
  std::string out;
  for (auto it = attributes.rbegin(); it != attributes.rend(); ++it) {
    if (!out.empty()) out.push_back(',');
    out += it->first;
    out.push_back('=');
    appendEscaped(out, it->second);
  }
  return out;
}

Certificate::Certificate(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

Result<Certificate> Certificate::adopt(x509_st* owned, std::string der) {
  X509Ptr x509(owned);
  ErrorScope scope;
  auto data = std::make_shared<Data>();
  data->der = der.empty() ? internal::i2dString<X509>(x509.get(), i2d_X509) : std::move(der);
  if (data->der.empty()) return opensslError(kInvalid, "certificate cannot be encoded");
  // The DER parser only checks the length of time fields; their content is checked here.
  FG_ASSIGN_OR_RETURN(data->not_before, internal::toTimePoint(X509_get0_notBefore(x509.get())));
  FG_ASSIGN_OR_RETURN(data->not_after, internal::toTimePoint(X509_get0_notAfter(x509.get())));
  // Resolve OpenSSL's lazily cached extension data now, while this thread is the only owner;
  // afterwards every thread reads the object without racing to fill the cache.
  X509_check_purpose(x509.get(), -1, 0);
  data->id = sha256Hex(data->der);
  data->x509 = std::move(x509);
  return Certificate(std::move(data));
}

Result<Certificate> Certificate::fromDer(std::string_view der) {
  if (der.empty()) return Error(kInvalid, "certificate is empty");
  if (der.size() > internal::kMaxInputBytes) return Error(kInvalid, "certificate is too large");
  ErrorScope scope;
  const auto* begin = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = begin;
  X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x509 == nullptr) return opensslError(kInvalid, "certificate could not be parsed");
  if (p != begin + der.size()) {
    return Error(kInvalid, "certificate has trailing data after its DER encoding");
  }
  // The id is the hash of these exact bytes; a BER form that OpenSSL would re-encode
  // differently would give the same certificate two ids (e.g. from the API and from TLS).
  std::string encoded = internal::i2dString<X509>(x509.get(), i2d_X509);
  if (encoded != der) return Error(kInvalid, "certificate is not DER encoded");
  return adopt(x509.release(), std::move(encoded));
}

Result<Certificate> Certificate::fromPem(std::string_view pem) {
  FG_ASSIGN_OR_RETURN(auto blocks, internal::parsePem(pem, kInvalid));
  const internal::PemBlock* found = nullptr;
  for (const auto& block : blocks) {
    if (block.label != kCertificateLabel) continue;
    if (found != nullptr) {
      return Error(kInvalid, "expected exactly one certificate, found several CERTIFICATE blocks");
    }
    found = &block;
  }
  if (found == nullptr) {
    if (blocks.empty()) return Error(kInvalid, "no PEM CERTIFICATE block found");
    return Error(kInvalid, "expected a CERTIFICATE PEM block, found " + blocks.front().label);
  }
  return fromDer(found->der);
}

Result<std::vector<Certificate>> Certificate::chainFromPem(std::string_view pem) {
  FG_ASSIGN_OR_RETURN(auto blocks, internal::parsePem(pem, kInvalid));
  std::vector<Certificate> chain;
  for (const auto& block : blocks) {
    if (block.label != kCertificateLabel) continue;
    FG_ASSIGN_OR_RETURN(auto certificate, fromDer(block.der));
    chain.push_back(std::move(certificate));
  }
  if (chain.empty()) return Error(kInvalid, "no PEM CERTIFICATE block found");
  return chain;
}

const std::string& Certificate::der() const { return data_->der; }

std::string Certificate::pem() const { return internal::toPem(kCertificateLabel, data_->der); }

const std::string& Certificate::id() const { return data_->id; }

DistinguishedName Certificate::subject() const {
  ErrorScope scope;
  return internal::toDistinguishedName(X509_get_subject_name(native()));
}

DistinguishedName Certificate::issuer() const {
  ErrorScope scope;
  return internal::toDistinguishedName(X509_get_issuer_name(native()));
}

std::string Certificate::subjectNameDer() const {
  ErrorScope scope;
  return internal::nameDer(X509_get_subject_name(native()));
}

std::string Certificate::issuerNameDer() const {
  ErrorScope scope;
  return internal::nameDer(X509_get_issuer_name(native()));
}

SubjectAltNames Certificate::subjectAltNames() const {
  ErrorScope scope;
  SubjectAltNames out;
  for (auto& [kind, value] : internal::generalNames(native(), NID_subject_alt_name)) {
    if (kind == "DNSName") out.dns.push_back(std::move(value));
    if (kind == "RFC822Name") out.email.push_back(std::move(value));
    if (kind == "UniformResourceIdentifier") out.uri.push_back(std::move(value));
    if (kind == "IPAddress") out.ip.push_back(std::move(value));
  }
  return out;
}

std::string Certificate::serialHex() const {
  ErrorScope scope;
  internal::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(native()), nullptr));
  if (serial == nullptr) return {};
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return {};
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

TimePoint Certificate::notBefore() const { return data_->not_before; }

TimePoint Certificate::notAfter() const { return data_->not_after; }

bool Certificate::isCa() const { return (X509_get_extension_flags(native()) & EXFLAG_CA) != 0; }

bool Certificate::isSelfIssued() const {
  return X509_NAME_cmp(X509_get_subject_name(native()), X509_get_issuer_name(native())) == 0;
}

std::string Certificate::publicKeyDer() const {
  ErrorScope scope;
  return internal::i2dString<X509_PUBKEY>(X509_get_X509_PUBKEY(native()), i2d_X509_PUBKEY);
}

std::string Certificate::signatureAlgorithm() const {
  const int nid = X509_get_signature_nid(native());
  if (nid != NID_undef) return OBJ_nid2ln(nid);
  ErrorScope scope;
  const X509_ALGOR* algorithm = nullptr;
  X509_get0_signature(nullptr, &algorithm, native());
  const ASN1_OBJECT* object = nullptr;
  X509_ALGOR_get0(&object, nullptr, nullptr, algorithm);
  std::array<char, 128> oid{};
  if (object == nullptr || OBJ_obj2txt(oid.data(), static_cast<int>(oid.size()), object, 1) <= 0) {
    return "unknown";
  }
  return oid.data();
}

Status Certificate::checkAcceptable() const {
  ErrorScope scope;
  std::string problem = internal::keyStrengthProblem(X509_get0_pubkey(native()));
  if (!problem.empty()) return Error(kInvalid, "certificate not accepted: " + problem);
  switch (X509_get_signature_nid(native())) {
    case NID_sha256WithRSAEncryption:
    case NID_sha384WithRSAEncryption:
    case NID_sha512WithRSAEncryption:
    case NID_dsa_with_SHA256:
    case NID_ecdsa_with_SHA256:
    case NID_ecdsa_with_SHA384:
    case NID_ecdsa_with_SHA512:
      return {};
    default:
      return Error(kInvalid, "certificate not accepted: unsupported signature algorithm " +
                                 signatureAlgorithm());
  }
}

bool Certificate::isSignedBy(const Certificate& issuer) const {
  ErrorScope scope;
  if (issuerNameDer() != issuer.subjectNameDer()) return false;
  EVP_PKEY* key = X509_get0_pubkey(issuer.native());
  return key != nullptr && X509_verify(native(), key) == 1;
}

bool Certificate::isValidAt(TimePoint t) const { return notBefore() <= t && t <= notAfter(); }

x509_st* Certificate::native() const { return data_->x509.get(); }

Status verifyChain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                   const Certificate& anchor, TimePoint at) {
  ErrorScope scope;
  internal::X509StorePtr store(X509_STORE_new());
  internal::X509StackPtr untrusted(sk_X509_new_null());
  internal::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || untrusted == nullptr || ctx == nullptr ||
      X509_STORE_add_cert(store.get(), anchor.native()) != 1) {
    return internalError("chain verification setup failed: " + internal::drainErrors());
  }
  for (const auto& intermediate : intermediates) {
    if (sk_X509_push(untrusted.get(), intermediate.native()) <= 0) {
      return internalError("chain verification setup failed: " + internal::drainErrors());
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(), untrusted.get()) != 1) {
    return internalError("chain verification setup failed: " + internal::drainErrors());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  // The anchor may be an intermediate CA the customer registered; it is trusted as given.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(internal::toUnixSeconds(at)));
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
  if (X509_verify_cert(ctx.get()) == 1) return {};
  const int code = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  std::string reason = X509_verify_cert_error_string(code);
  return Error(ErrorKind::kCertificateValidation,
               "certificate chain verification failed: " + reason,
               "verify error " + std::to_string(code) + " at depth " + std::to_string(depth) +
                   "; " + internal::drainErrors());
}

}  // namespace fleetgate::pki
