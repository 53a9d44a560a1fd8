// Feeds arbitrary bytes to every pki parser of outside input: certificate PEM / chain / DER,
// CSR PEM and private key PEM. On success the accessors run too, since they decode lazily.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pki/certificate.h"
#include "pki/certificate_request.h"
#include "pki/key.h"

namespace {

using fleetgate::pki::Certificate;

void exercise(const Certificate& certificate) {
  (void)certificate.pem();
  (void)certificate.subject().toString();
  (void)certificate.issuer().toString();
  (void)certificate.subjectNameDer();
  (void)certificate.issuerNameDer();
  (void)certificate.subjectAltNames();
  (void)certificate.serialHex();
  (void)certificate.isValidAt(certificate.notBefore());
  (void)certificate.notAfter();
  (void)certificate.isCa();
  (void)certificate.isSelfIssued();
  (void)certificate.publicKeyDer();
  (void)certificate.signatureAlgorithm();
  (void)certificate.checkAcceptable();
  (void)certificate.isSignedBy(certificate);
  (void)fleetgate::pki::verifyChain(certificate, {}, certificate, certificate.notBefore());
  // A parsed certificate's DER must parse again to the same id.
  auto again = Certificate::fromDer(certificate.der());
  if (!again.ok() || again->id() != certificate.id()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto certificate = Certificate::fromPem(input); certificate.ok()) exercise(*certificate);
  if (auto chain = Certificate::chainFromPem(input); chain.ok()) {
    for (const auto& certificate : *chain) exercise(certificate);
  }
  if (auto certificate = Certificate::fromDer(input); certificate.ok()) exercise(*certificate);
  if (auto request = fleetgate::pki::CertificateRequest::fromPem(input); request.ok()) {
    (void)request->subject().toString();
    (void)request->publicKeyDer();
  }
  if (auto key = fleetgate::pki::PrivateKey::fromPem(input); key.ok()) {
    (void)key->type();
    (void)key->publicKeyPem();
    (void)key->privateKeyPem();
  }
  return 0;
}
