#pragma once

// TLS without I/O: a TlsSession consumes ciphertext received from the network and yields
// plaintext, and turns plaintext into ciphertext for the caller to send. The broker owns the
// sockets; OpenSSL stays in this module.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "pki/certificate.h"

namespace fleetgate::pki {

struct TlsServerOptions {
  std::string certificate_chain_file;  // PEM: server certificate, then intermediates
  std::string private_key_file;
  // ALPN protocol ids the server accepts, in preference order. Empty: ALPN is ignored (a client
  // offering ALPN still connects, with no protocol selected). Non-empty: a client that offers
  // ALPN without any of these is refused; a client offering no ALPN is refused only when
  // require_alpn is set.
  std::vector<std::string> alpn_protocols;
  bool require_alpn = false;
};

// One server configuration shared by many sessions (thread-safe once created).
// Client certificates are required. They are *not* chain-verified here: the caller identifies
// them by TlsSession::peerCertificateId() against its registry, which checked the chain once at
// registration. OpenSSL still checks the client's CertificateVerify signature, so the peer
// holds the certificate's private key. TLS 1.2 and 1.3; no session tickets or resumption.
class TlsServerContext {
 public:
  static Result<std::shared_ptr<TlsServerContext>> create(const TlsServerOptions& options);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit TlsServerContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct TlsClientOptions {
  std::string ca_file;  // trust anchors for the server certificate; empty: server not verified
  std::string certificate_chain_file;  // client certificate (+ chain sent to the server); may be empty
  std::string private_key_file;
  std::vector<std::string> alpn_protocols;
  int max_version = 0;  // 0: TLS 1.3; 12: TLS 1.2 only
};

// Client side, for tests and benchmarks.
class TlsClientContext {
 public:
  static Result<std::shared_ptr<TlsClientContext>> create(const TlsClientOptions& options);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit TlsClientContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Names of the peer certificate that IoT policy variables use (spec §8.4), in certificate order.
struct PeerCertificateNames {
  DistinguishedName subject;
  DistinguishedName issuer;
  // (kind, value) with kind one of "DNSName", "RFC822Name", "UniformResourceIdentifier",
  // "IPAddress", "DirectoryName".
  std::vector<std::pair<std::string, std::string>> subject_alt_names;
  std::vector<std::pair<std::string, std::string>> issuer_alt_names;
  std::string serial;  // uppercase hex, as Certificate::serialHex
};

class TlsSession {
 public:
  enum class State { kHandshaking, kOpen, kClosed, kFailed };

  static std::unique_ptr<TlsSession> accept(const std::shared_ptr<TlsServerContext>& context);
  // server_name: sent as SNI and checked against the server certificate when non-empty.
  static std::unique_ptr<TlsSession> connect(const std::shared_ptr<TlsClientContext>& context,
                                             const std::string& server_name);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Feeds ciphertext from the network. Advances the handshake and appends decrypted application
  // data to `plaintext`. Handshake records to send back are queued (see takeOutgoing). Returns
  // the state afterwards; kFailed is final and failureReason() says why.
  State receive(std::string_view ciphertext, std::string& plaintext);
  // Encrypts application data (only in kOpen; false otherwise) and queues the records.
  bool send(std::string_view plaintext);
  // Queues a close_notify alert; the state becomes kClosed.
  void close();
  // Moves queued ciphertext to the end of `out`. Returns false when nothing was queued.
  bool takeOutgoing(std::string& out);
  // Frees the memory buffers' capacity when they hold nothing; for connections gone idle.
  void releaseBuffers();

  State state() const { return state_; }
  const std::string& failureReason() const { return failure_reason_; }

  // Valid once the handshake completed.
  const std::string& serverName() const { return server_name_; }      // SNI, empty when none
  const std::string& alpnProtocol() const { return alpn_protocol_; }  // empty when none
  std::string_view protocolVersion() const;                            // "TLSv1.2", "TLSv1.3"
  // The peer's leaf certificate: lowercase hex SHA-256 of its DER (the AWS certificate id).
  // Empty when the peer sent none.
  const std::string& peerCertificateId() const { return peer_certificate_id_; }
  // DER of every certificate the peer sent, leaf first (JITP verifies these).
  std::vector<std::string> peerChainDer() const;
  PeerCertificateNames peerCertificateNames() const;

  struct Impl;

 private:
  explicit TlsSession(std::unique_ptr<Impl> impl);
  void onHandshakeDone();
  // Moves to kFailed with a reason from the OpenSSL error queue, then clears the queue.
  void fail(int ssl_error);

  std::unique_ptr<Impl> impl_;
  State state_ = State::kHandshaking;
  std::string failure_reason_;
  std::string server_name_;
  std::string alpn_protocol_;
  std::string peer_certificate_id_;
};

}  // namespace fleetgate::pki
