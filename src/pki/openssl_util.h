#pragma once

// Internal to src/pki/: RAII handles and helpers around OpenSSL. Never include this header
// outside src/pki/ (the rest of the project must not see OpenSSL).

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/signer.h"

namespace fleetgate::pki::internal {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};

using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using X509PubkeyPtr = std::unique_ptr<X509_PUBKEY, Deleter<X509_PUBKEY, X509_PUBKEY_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using X509AlgorPtr = std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR, X509_ALGOR_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1OctetStringPtr =
    std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using Asn1BitStringPtr =
    std::unique_ptr<ASN1_BIT_STRING, Deleter<ASN1_BIT_STRING, ASN1_BIT_STRING_free>>;
using BasicConstraintsPtr =
    std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;
using AuthorityKeyIdPtr =
    std::unique_ptr<AUTHORITY_KEYID, Deleter<AUTHORITY_KEYID, AUTHORITY_KEYID_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME, GENERAL_NAME_free>>;

inline void freeGeneralNames(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, freeGeneralNames>>;
inline void freeExtendedKeyUsage(EXTENDED_KEY_USAGE* eku) {
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}
using ExtendedKeyUsagePtr =
    std::unique_ptr<EXTENDED_KEY_USAGE, Deleter<EXTENDED_KEY_USAGE, freeExtendedKeyUsage>>;
// The stack only borrows its certificates.
inline void freeX509Stack(STACK_OF(X509) * stack) { sk_X509_free(stack); }
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), freeX509Stack>>;

// Every public pki function that calls OpenSSL opens one of these. OpenSSL leaves entries on the
// thread's error queue even after some successful calls (decoders try several formats); popping
// to the mark on exit keeps them from leaking into unrelated later calls on this thread, while
// leaving older entries that belong to a caller untouched.
class ErrorScope {
 public:
  ErrorScope() { ERR_set_mark(); }
  ~ErrorScope() { ERR_pop_to_mark(); }
  ErrorScope(const ErrorScope&) = delete;
  ErrorScope& operator=(const ErrorScope&) = delete;
};

// Pops every queued OpenSSL error and renders them for an Error's internal cause.
std::string drainErrors();
// An error whose client-safe message is `message` and whose cause is the OpenSSL error queue.
Error opensslError(ErrorKind kind, std::string message);

// Inputs above this size are refused before any parsing: nothing legitimate is this large.
inline constexpr std::size_t kMaxInputBytes = 64 * 1024;

struct PemBlock {
  std::string label;  // e.g. "CERTIFICATE"
  std::string der;
};
// Splits text into its PEM blocks (RFC 7468 textual encoding, strict base64). Text outside the
// blocks is ignored; a damaged block (truncated, mismatched END, bad base64, headers) is an
// error with a client-safe message of kind `kind`.
Result<std::vector<PemBlock>> parsePem(std::string_view text, ErrorKind kind);
std::string toPem(std::string_view label, std::string_view der);

// Output of an i2d_* function as bytes; empty on failure.
template <typename T>
std::string i2dString(const T* object, int (*i2d)(const T*, unsigned char**)) {
  int length = i2d(object, nullptr);
  if (length <= 0) return {};
  std::string out(static_cast<std::size_t>(length), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (i2d(object, &p) != length) return {};
  return out;
}

// The to-be-signed part of a certificate or CSR (i2d_re_X509_tbs, i2d_re_X509_REQ_tbs), encoded
// afresh rather than from an encoding cached before the last change; empty on failure.
template <typename T>
std::string toBeSignedString(T* object, int (*i2d_re)(T*, unsigned char**)) {
  unsigned char* encoded = nullptr;
  const int length = i2d_re(object, &encoded);
  if (length <= 0) return {};
  std::string out(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
  OPENSSL_free(encoded);
  return out;
}

DistinguishedName toDistinguishedName(const X509_NAME* name);
// The names of a certificate's GENERAL_NAMES extension (`nid`: NID_subject_alt_name or
// NID_issuer_alt_name) in order, as (kind, text) with the IoT policy kind names "DNSName",
// "RFC822Name", "UniformResourceIdentifier", "IPAddress" (textual), "DirectoryName" (RFC 2253).
std::vector<std::pair<std::string, std::string>> generalNames(const X509* certificate, int nid);
std::string nameDer(const X509_NAME* name);
// Appends the attributes of `dn` to `name`; `kind` is the error for a bad or long attribute.
Status setName(X509_NAME* name, const DistinguishedName& dn, ErrorKind kind);
// Seconds-resolution conversions; TimePoint is the project's clock type.
Result<TimePoint> toTimePoint(const ASN1_TIME* time);
std::int64_t toUnixSeconds(TimePoint t);

// Checks a subject public key against the accepted set (RSA >= 2048, EC P-256/384/521).
// Returns a client-safe reason on rejection, empty when acceptable.
std::string keyStrengthProblem(const EVP_PKEY* key);
// P-256, P-384 or P-521 by OpenSSL group name ("prime256v1", "secp384r1", "secp521r1").
bool isAcceptedCurve(std::string_view group_name);

// A SubjectPublicKeyInfo as a key a certificate can carry, refusing what keyStrengthProblem
// refuses. Errors are InvalidRequestException with a client-safe message. (In public_key.cc.)
Result<EvpPkeyPtr> parsePublicKey(std::string_view der);

// Subject alternative names a certificate can carry: a DNS name is printable ASCII of at most
// 253 characters, an IP address textual IPv4 or IPv6. InvalidRequestException naming the first
// that is not.
Status checkAltNames(const std::vector<std::string>& dns_names,
                     const std::vector<std::string>& ip_addresses);
// The 4 or 16 bytes of a textual IPv4 or IPv6 address.
std::optional<std::string> ipAddressBytes(const std::string& text);

// The two halves of putting a Signer's signature where X509_sign or X509_REQ_sign would:
// `field` becomes the AlgorithmIdentifier of `algorithm`, or the BIT STRING of `signature`.
Status setSignatureAlgorithm(X509_ALGOR* field, SignatureAlgorithm algorithm);
Status setSignatureValue(ASN1_BIT_STRING* field, std::string_view signature);

// Key generation that the key pool can abort part way (RSA prime search) when `cancel` is set.
Result<PrivateKey> generateKey(KeyType type, const std::atomic<bool>* cancel);

}  // namespace fleetgate::pki::internal
