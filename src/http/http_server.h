#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

// A small HTTPS/1.1 server (TLS 1.2/1.3, keep-alive) that one Handler plugs into. Boost.Beast and
// OpenSSL stay behind the pimpl: this header is cheap to include.
namespace fleetgate::http {

struct Request {
  std::string method;  // "GET", ...
  std::string path;    // raw, still percent-encoded, without query
  std::string query;   // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  std::string remote_address;  // "127.0.0.1", "::1"
  std::uint16_t remote_port = 0;

  // Case-insensitive; the first header of that name.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Runs on an I/O thread and may block (database, crypto); the server has `threads` of them.
// An exception it throws becomes a 500 built by the ErrorResponder.
using Handler = std::function<Response(const Request&)>;

// Builds the response for a request the server refuses before the handler sees it
// (kind: kRequestEntityTooLarge, kInvalidRequest for unparsable HTTP, kInternalFailure when the
// handler threw) — the API layer renders it AWS-shaped.
using ErrorResponder = std::function<Response(const Error&)>;

struct ServerOptions {
  std::string bind_address = "127.0.0.1";  // an IP literal, v4 or v6
  std::uint16_t port = 9443;               // 0 = pick a free port; port() tells which
  std::string certificate_chain_file;      // PEM: server cert then intermediates
  std::string private_key_file;
  std::size_t max_body_bytes = 1 << 20;  // larger -> 413 via ErrorResponder, without buffering it
  std::size_t max_header_bytes = 16 * 1024;  // larger -> 400 via ErrorResponder
  int threads = 0;                           // 0 = std::thread::hardware_concurrency()
  std::chrono::seconds idle_timeout{60};     // keep-alive idle and slow-client (slowloris) timeout
  std::chrono::seconds handshake_timeout{10};
};

class Server {
 public:
  Server(ServerOptions options, Handler handler, ErrorResponder error_responder);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate chain and key, binds, listens and starts the I/O threads. Errors if
  // the files are bad, the address is not an IP literal or the port is busy. Once per Server.
  Status start();
  std::uint16_t port() const;

  // Stops accepting, closes every connection, lets running handlers finish and joins the
  // threads. Idempotent. Must not be called from a handler (it joins the handler's thread).
  void stop();

  // TCP connections accepted so far; lets tests observe keep-alive reuse.
  std::uint64_t acceptedConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetgate::http
