#include "pki/tls.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <array>
#include <limits>

#include "pki/digest.h"
#include "pki/openssl_util.h"

namespace fleetgate::pki {

using internal::Deleter;
using internal::drainErrors;

namespace {

using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;

// TLS 1.2 suites in the order AWS IoT offers them (ECDHE with AES-GCM first). TLS 1.3 keeps
// OpenSSL's default suites.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr unsigned char kSessionIdContext[] = "fleetgate";
// An idle connection keeps its memory BIOs; one whose buffer grew past this while empty gets a
// fresh one, so 10,000 idle connections do not each hold their largest burst.
constexpr std::size_t kIdleBufferLimit = 2048;
constexpr std::size_t kReadChunk = 16 * 1024;

// Wire form of an ALPN list (length-prefixed ids).
Result<std::string> alpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      return Error(ErrorKind::kInvalidRequest,
                   "ALPN protocol id must be 1 to 255 bytes: '" + protocol + "'");
    }
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return wire;
}

// Loads a PEM chain and its key into `ctx`; errors name the files.
Status loadCertificateAndKey(SSL_CTX* ctx, const std::string& chain_file,
                             const std::string& key_file) {
  if (chain_file.empty() || key_file.empty()) {
    return Error(ErrorKind::kInvalidRequest,
                 "TLS needs both a certificate chain file and a private key file");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, chain_file.c_str()) != 1) {
    return internal::opensslError(ErrorKind::kInvalidRequest,
                                  "cannot load TLS certificate chain from " + chain_file);
  }
  const std::string mismatch =
      "TLS private key " + key_file + " does not match the certificate in " + chain_file;
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // Loading already compares the key with the certificate.
    const bool wrong_key = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    return internal::opensslError(
        ErrorKind::kInvalidRequest,
        wrong_key ? mismatch : "cannot load TLS private key from " + key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return internal::opensslError(ErrorKind::kInvalidRequest, mismatch);
  }
  return {};
}

bool isIpLiteral(const std::string& name) {
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, name.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer.data()) == 1;
}

// Client certificates are identified by id against the registry, which verified their chain
// at registration; building and verifying a chain per handshake would cost ~300 us. OpenSSL
// calls this only when the client sent at least one certificate (an empty Certificate message
// is refused by SSL_VERIFY_FAIL_IF_NO_PEER_CERT before), and still checks CertificateVerify.
int acceptWithoutChainVerification(X509_STORE_CTX* store_ctx, void* /*arg*/) {
  return X509_STORE_CTX_get0_cert(store_ctx) != nullptr ? 1 : 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Contexts

struct TlsServerContext::Impl {
  SslCtxPtr ctx;
  std::vector<std::string> alpn_protocols;
  bool require_alpn = false;
};

struct TlsClientContext::Impl {
  SslCtxPtr ctx;
};

struct TlsSession::Impl {
  std::shared_ptr<TlsServerContext> server;  // keeps the callbacks' data alive
  std::shared_ptr<TlsClientContext> client;
  SslPtr ssl;
  BIO* rbio = nullptr;  // owned by ssl
  BIO* wbio = nullptr;  // owned by ssl
  // Set by a callback that refuses the handshake, for a clearer failure reason.
  std::string callback_failure;
};

namespace {

TlsSession::Impl* sessionOf(SSL* ssl) {
  return static_cast<TlsSession::Impl*>(SSL_get_app_data(ssl));
}

void noteCallbackFailure(SSL* ssl, std::string reason) {
  if (TlsSession::Impl* impl = sessionOf(ssl); impl != nullptr) {
    impl->callback_failure = std::move(reason);
  }
}

int selectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) {
  const auto* server = static_cast<const TlsServerContext::Impl*>(arg);
  for (const auto& wanted : server->alpn_protocols) {  // server preference order
    unsigned int i = 0;
    while (i < inlen) {
      const unsigned int length = in[i];
      if (length == 0 || i + 1 + length > inlen) break;  // malformed; OpenSSL checks too
      if (length == wanted.size() &&
          std::string_view(reinterpret_cast<const char*>(in + i + 1), length) == wanted) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(length);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + length;
    }
  }
  noteCallbackFailure(ssl, "no ALPN protocol in common with the client");
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int checkClientHello(SSL* ssl, int* alert, void* arg) {
  const auto* server = static_cast<const TlsServerContext::Impl*>(arg);
  if (!server->require_alpn) return SSL_CLIENT_HELLO_SUCCESS;  // not registered then anyway
  const unsigned char* data = nullptr;
  std::size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data,
                                &length) == 1) {
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  noteCallbackFailure(ssl, "client offered no ALPN protocol and ALPN is required");
  *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
  return SSL_CLIENT_HELLO_ERROR;
}

}  // namespace

TlsServerContext::TlsServerContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServerContext::~TlsServerContext() = default;

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::create(
    const TlsServerOptions& options) {
  internal::ErrorScope scope;
  FG_RETURN_IF_ERROR(alpnWire(options.alpn_protocols));  // validates the ids
  auto impl = std::make_unique<Impl>();
  impl->alpn_protocols = options.alpn_protocols;
  impl->require_alpn = options.require_alpn;
  impl->ctx.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = impl->ctx.get();
  if (ctx == nullptr) return internalError("SSL_CTX_new failed: " + drainErrors());

  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1 || SSL_CTX_set_num_tickets(ctx, 0) != 1 ||
      SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1) != 1) {
    return internalError("TLS server context setup failed: " + drainErrors());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, acceptWithoutChainVerification, nullptr);
  // No client CA list is sent: clients send their certificate anyway.

  FG_RETURN_IF_ERROR(
      loadCertificateAndKey(ctx, options.certificate_chain_file, options.private_key_file));

  // The callbacks read the Impl, which the context owns and every session keeps alive.
  if (!impl->alpn_protocols.empty()) {
    SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, impl.get());
  }
  if (impl->require_alpn) SSL_CTX_set_client_hello_cb(ctx, checkClientHello, impl.get());
  return std::shared_ptr<TlsServerContext>(new TlsServerContext(std::move(impl)));
}

TlsClientContext::TlsClientContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsClientContext::~TlsClientContext() = default;

Result<std::shared_ptr<TlsClientContext>> TlsClientContext::create(
    const TlsClientOptions& options) {
  internal::ErrorScope scope;
  if (options.max_version != 0 && options.max_version != 12 && options.max_version != 13) {
    return Error(ErrorKind::kInvalidRequest, "max_version must be 0, 12 or 13");
  }
  FG_ASSIGN_OR_RETURN(std::string alpn, alpnWire(options.alpn_protocols));
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = impl->ctx.get();
  if (ctx == nullptr) return internalError("SSL_CTX_new failed: " + drainErrors());
  const int max_version = options.max_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, max_version) != 1) {
    return internalError("TLS client context setup failed: " + drainErrors());
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  // Send exactly the chain file, not a chain completed from the trust anchors.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
      return internal::opensslError(ErrorKind::kInvalidRequest,
                                    "cannot load TLS trust anchors from " + options.ca_file);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!options.certificate_chain_file.empty() || !options.private_key_file.empty()) {
    FG_RETURN_IF_ERROR(
        loadCertificateAndKey(ctx, options.certificate_chain_file, options.private_key_file));
  }
  if (!alpn.empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(alpn.data()),
                              static_cast<unsigned int>(alpn.size())) != 0) {
    return internalError("TLS client ALPN setup failed: " + drainErrors());
  }
  return std::shared_ptr<TlsClientContext>(new TlsClientContext(std::move(impl)));
}

// ---------------------------------------------------------------------------------------------
// Session

namespace {

// Creates the SSL object with two memory BIOs; nullptr ssl on failure.
SslPtr newSsl(SSL_CTX* ctx, TlsSession::Impl& impl) {
  SslPtr ssl(SSL_new(ctx));
  if (ssl == nullptr) return ssl;
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    return nullptr;
  }
  SSL_set_bio(ssl.get(), rbio, wbio);
  impl.rbio = rbio;
  impl.wbio = wbio;
  SSL_set_app_data(ssl.get(), &impl);
  return ssl;
}

// Capacity of an empty memory BIO's buffer (0 when it holds data).
std::size_t idleCapacity(BIO* bio) {
  if (BIO_ctrl_pending(bio) != 0) return 0;
  BUF_MEM* memory = nullptr;
  BIO_get_mem_ptr(bio, &memory);
  return memory == nullptr ? 0 : memory->max;
}

}  // namespace

TlsSession::TlsSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsSession::~TlsSession() = default;

std::unique_ptr<TlsSession> TlsSession::accept(const std::shared_ptr<TlsServerContext>& context) {
  auto impl = std::make_unique<Impl>();
  Impl& raw = *impl;
  std::unique_ptr<TlsSession> session(new TlsSession(std::move(impl)));
  if (context == nullptr) {
    session->state_ = State::kFailed;
    session->failure_reason_ = "no TLS server context";
    return session;
  }
  raw.server = context;
  raw.ssl = newSsl(context->impl().ctx.get(), raw);
  if (raw.ssl == nullptr) {
    session->state_ = State::kFailed;
    session->failure_reason_ = "cannot create TLS session";
    ERR_clear_error();
    return session;
  }
  SSL_set_accept_state(raw.ssl.get());
  return session;
}

std::unique_ptr<TlsSession> TlsSession::connect(const std::shared_ptr<TlsClientContext>& context,
                                                const std::string& server_name) {
  auto impl = std::make_unique<Impl>();
  Impl& raw = *impl;
  std::unique_ptr<TlsSession> session(new TlsSession(std::move(impl)));
  if (context == nullptr) {
    session->state_ = State::kFailed;
    session->failure_reason_ = "no TLS client context";
    return session;
  }
  ERR_clear_error();
  raw.client = context;
  raw.ssl = newSsl(context->impl().ctx.get(), raw);
  bool ok = raw.ssl != nullptr;
  if (ok) {
    SSL* ssl = raw.ssl.get();
    SSL_set_connect_state(ssl);
    if (!server_name.empty()) {
      if (isIpLiteral(server_name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1;
      } else {
        ok = SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1 &&
             SSL_set1_host(ssl, server_name.c_str()) == 1;
      }
    }
  }
  if (!ok) {
    session->state_ = State::kFailed;
    session->failure_reason_ = "cannot create TLS session for '" + server_name + "'";
    ERR_clear_error();
    return session;
  }
  // Queue the ClientHello.
  std::string ignored;
  session->receive({}, ignored);
  return session;
}

TlsSession::State TlsSession::receive(std::string_view ciphertext, std::string& plaintext) {
  if (state_ == State::kFailed || state_ == State::kClosed) return state_;
  SSL* ssl = impl_->ssl.get();
  ERR_clear_error();  // SSL_get_error reads the queue; start from a clean one
  while (!ciphertext.empty()) {
    const std::size_t chunk =
        std::min<std::size_t>(ciphertext.size(), std::numeric_limits<int>::max());
    const int written = BIO_write(impl_->rbio, ciphertext.data(), static_cast<int>(chunk));
    if (written <= 0) {
      fail(0);
      return state_;
    }
    ciphertext.remove_prefix(static_cast<std::size_t>(written));
  }

  if (state_ == State::kHandshaking) {
    const int rc = SSL_do_handshake(ssl);
    if (rc != 1) {
      const int error = SSL_get_error(ssl, rc);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) fail(error);
      return state_;
    }
    onHandshakeDone();
    if (state_ != State::kOpen) return state_;
  }

  std::array<char, kReadChunk> buffer;
  for (;;) {
    std::size_t read = 0;
    if (SSL_read_ex(ssl, buffer.data(), buffer.size(), &read) == 1) {
      plaintext.append(buffer.data(), read);
      continue;
    }
    const int error = SSL_get_error(ssl, 0);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
    if (error == SSL_ERROR_ZERO_RETURN) {
      // The peer sent close_notify: answer with ours and stop.
      if ((SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) == 0) SSL_shutdown(ssl);
      ERR_clear_error();
      state_ = State::kClosed;
      return state_;
    }
    fail(error);
    return state_;
  }
  // Everything received was consumed (partial records wait inside OpenSSL's record layer).
  if (idleCapacity(impl_->rbio) > kIdleBufferLimit) {
    if (BIO* fresh = BIO_new(BIO_s_mem()); fresh != nullptr) {
      SSL_set0_rbio(ssl, fresh);
      impl_->rbio = fresh;
    }
  }
  return state_;
}

void TlsSession::onHandshakeDone() {
  SSL* ssl = impl_->ssl.get();
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name); name != nullptr) {
    server_name_ = name;
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
  if (alpn != nullptr) alpn_protocol_.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  if (const X509* peer = SSL_get0_peer_certificate(ssl); peer != nullptr) {
    // OpenSSL keeps the received encoding, so this is the exact DER the peer sent.
    const std::string der = internal::i2dString<X509>(peer, i2d_X509);
    if (!der.empty()) peer_certificate_id_ = sha256Hex(der);
  }
  if (SSL_is_server(ssl) == 1 && peer_certificate_id_.empty()) {
    // Unreachable with SSL_VERIFY_FAIL_IF_NO_PEER_CERT; kept as a guard for the registry.
    state_ = State::kFailed;
    failure_reason_ = "client sent no certificate";
    ERR_clear_error();
    return;
  }
  state_ = State::kOpen;
}

void TlsSession::fail(int ssl_error) {
  state_ = State::kFailed;
  if (!impl_->callback_failure.empty()) {
    failure_reason_ = impl_->callback_failure;
  } else if (const unsigned long code = ERR_peek_error(); code != 0) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    failure_reason_ = text.data();
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    failure_reason_ = "unexpected end of TLS stream";
  } else {
    failure_reason_ = "TLS error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
}

bool TlsSession::send(std::string_view plaintext) {
  if (state_ != State::kOpen) return false;
  if (plaintext.empty()) return true;
  ERR_clear_error();
  SSL* ssl = impl_->ssl.get();
  while (!plaintext.empty()) {
    std::size_t written = 0;
    if (SSL_write_ex(ssl, plaintext.data(), plaintext.size(), &written) != 1) {
      fail(SSL_get_error(ssl, 0));
      return false;
    }
    plaintext.remove_prefix(written);
  }
  return true;
}

void TlsSession::close() {
  if (state_ == State::kFailed || state_ == State::kClosed) return;
  SSL* ssl = impl_->ssl.get();
  // During the handshake there is no close_notify to send; the caller just drops the stream.
  if (state_ == State::kOpen && (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) == 0) {
    ERR_clear_error();
    SSL_shutdown(ssl);
    ERR_clear_error();
  }
  state_ = State::kClosed;
}

bool TlsSession::takeOutgoing(std::string& out) {
  if (impl_->ssl == nullptr) return false;
  BIO* wbio = impl_->wbio;
  const std::size_t pending = BIO_ctrl_pending(wbio);
  if (pending == 0) return false;
  const std::size_t start = out.size();
  out.resize(start + pending);
  std::size_t read = 0;
  if (BIO_read_ex(wbio, out.data() + start, pending, &read) != 1) read = 0;
  out.resize(start + read);
  if (state_ == State::kOpen && idleCapacity(wbio) > kIdleBufferLimit) {
    if (BIO* fresh = BIO_new(BIO_s_mem()); fresh != nullptr) {
      SSL_set0_wbio(impl_->ssl.get(), fresh);
      impl_->wbio = fresh;
    }
  }
  ERR_clear_error();
  return read > 0;
}

void TlsSession::releaseBuffers() {
  SSL* ssl = impl_->ssl.get();
  if (ssl == nullptr || state_ != State::kOpen) return;
  if (idleCapacity(impl_->rbio) > 0) {
    if (BIO* fresh = BIO_new(BIO_s_mem()); fresh != nullptr) {
      SSL_set0_rbio(ssl, fresh);
      impl_->rbio = fresh;
    }
  }
  if (idleCapacity(impl_->wbio) > 0) {
    if (BIO* fresh = BIO_new(BIO_s_mem()); fresh != nullptr) {
      SSL_set0_wbio(ssl, fresh);
      impl_->wbio = fresh;
    }
  }
}

std::string_view TlsSession::protocolVersion() const {
  if (impl_->ssl == nullptr) return {};
  return SSL_get_version(impl_->ssl.get());
}

std::vector<std::string> TlsSession::peerChainDer() const {
  std::vector<std::string> out;
  if (impl_->ssl == nullptr) return out;
  internal::ErrorScope scope;
  SSL* ssl = impl_->ssl.get();
  const X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) return out;
  out.push_back(internal::i2dString<X509>(leaf, i2d_X509));
  // On a server the peer chain excludes the leaf; on a client it starts with it.
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  const int first = SSL_is_server(ssl) == 1 ? 0 : 1;
  for (int i = first; chain != nullptr && i < sk_X509_num(chain); ++i) {
    out.push_back(internal::i2dString<X509>(sk_X509_value(chain, i), i2d_X509));
  }
  return out;
}

PeerCertificateNames TlsSession::peerCertificateNames() const {
  PeerCertificateNames names;
  if (impl_->ssl == nullptr) return names;
  internal::ErrorScope scope;
  const X509* peer = SSL_get0_peer_certificate(impl_->ssl.get());
  if (peer == nullptr) return names;
  names.subject = internal::toDistinguishedName(X509_get_subject_name(peer));
  names.issuer = internal::toDistinguishedName(X509_get_issuer_name(peer));
  names.subject_alt_names = internal::generalNames(peer, NID_subject_alt_name);
  names.issuer_alt_names = internal::generalNames(peer, NID_issuer_alt_name);
  // Same rendering as Certificate::serialHex.
  internal::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr));
  if (serial != nullptr) {
    if (char* hex = BN_bn2hex(serial.get()); hex != nullptr) {
      names.serial = hex;
      OPENSSL_free(hex);
    }
  }
  return names;
}

}  // namespace fleetgate::pki
