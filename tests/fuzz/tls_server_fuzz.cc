// Feeds a client's bytes to a server TlsSession, in chunks sized by the first input byte. The
// session must fail cleanly (or wait for more) on anything that is not a real handshake, and
// keep producing alerts and nothing else.
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "pki/authority.h"
#include "pki/digest.h"
#include "pki/key.h"
#include "pki/tls.h"

namespace {

using namespace fleetgate;

void writeFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

// A server certificate made once per process, in a private temporary directory.
std::shared_ptr<pki::TlsServerContext> makeContext() {
  char pattern[] = "/tmp/tls-fuzz-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  auto key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
  pki::IssueProfile profile;
  profile.subject.attributes = {{"CN", "localhost"}};
  profile.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  profile.not_after = std::chrono::system_clock::now() + std::chrono::hours(1);
  if (!key.ok()) std::abort();
  const std::string key_pem = key->privateKeyPem();
  pki::SecureRandom random;
  auto cert = pki::CertificateAuthority::selfSign(pki::SoftwareSigner(std::move(key).value()),
                                                  profile, random);
  if (!cert.ok()) std::abort();
  writeFile(dir / "server.pem", cert->pem());
  writeFile(dir / "server.key", key_pem);
  std::filesystem::permissions(dir / "server.key", std::filesystem::perms::owner_read |
                                                       std::filesystem::perms::owner_write);
  pki::TlsServerOptions options;
  options.certificate_chain_file = (dir / "server.pem").string();
  options.private_key_file = (dir / "server.key").string();
  options.alpn_protocols = {"x-amzn-mqtt-ca"};
  auto context = pki::TlsServerContext::create(options);
  std::filesystem::remove_all(dir);
  if (!context.ok()) std::abort();
  return *context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::shared_ptr<pki::TlsServerContext> context = makeContext();
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0];
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  auto session = pki::TlsSession::accept(context);
  std::string plaintext;
  std::string out;
  for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
    const auto state = session->receive(stream.substr(pos, chunk), plaintext);
    session->takeOutgoing(out);
    // Without the client's private key nothing can complete a handshake with a certificate.
    if (state == pki::TlsSession::State::kOpen) std::abort();
    if (!plaintext.empty()) std::abort();
  }
  return 0;
}
