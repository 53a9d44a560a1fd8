// The only translation unit that includes Beast and Asio: they are slow to compile, and keeping
// them here lets the API layer (and every test of it) build against a plain header.
#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace fleetgate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// A failing accept (EMFILE, ENOBUFS) would otherwise spin the acceptor strand.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// After refusing a request whose body may still be arriving, the server reads and discards up to
// this much: closing a socket with unread data sends a TCP reset, and the client (curl, Python's
// http.client, which sends its whole body before reading) would lose the response.
constexpr std::size_t kLingerMaxBytes = 8 << 20;
constexpr std::size_t kLingerChunk = 16 * 1024;
// stop() closes every socket, so the I/O threads run out of work almost at once; this only bounds
// how long a handler in flight or an unforeseen pending operation may delay the forced stop.
constexpr auto kStopGrace = std::chrono::seconds(2);

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lowerAscii(x) == lowerAscii(y);
         });
}

// A handler that echoes client input into a header must not be able to split the response.
bool isSafeHeader(std::string_view name, std::string_view value) {
  constexpr std::string_view kBreaks("\r\n\0", 3);
  return !name.empty() && name.find_first_of(kBreaks) == std::string_view::npos &&
         value.find_first_of(kBreaks) == std::string_view::npos;
}

// Message framing belongs to the server, whatever the handler sets.
bool isFramingHeader(std::string_view name) {
  return equalsIgnoreCase(name, "content-length") || equalsIgnoreCase(name, "transfer-encoding") ||
         equalsIgnoreCase(name, "connection");
}

bool isHttpParseError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

class Session;

// State shared by the acceptor and every session; outlives the io_context's handlers.
struct ServerCore {
  ServerCore(ServerOptions opts, Handler h, ErrorResponder er)
      : options(std::move(opts)), handler(std::move(h)), error_responder(std::move(er)) {}

  bool registerSession(Session* session) {
    std::lock_guard lock(mutex);
    if (stopping) return false;
    sessions.insert(session);
    return true;
  }
  void unregisterSession(Session* session) {
    std::lock_guard lock(mutex);
    sessions.erase(session);
  }

  const ServerOptions options;
  const Handler handler;
  const ErrorResponder error_responder;
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  std::atomic<std::uint64_t> accepted{0};

  std::mutex mutex;
  std::unordered_set<Session*> sessions;  // guarded by mutex
  bool stopping = false;                  // guarded by mutex
};

// Builds the refusal response; the responder is outside code, so it may throw too.
Response errorResponse(const ServerCore& core, const Error& error) {
  try {
    return core.error_responder(error);
  } catch (const std::exception& e) {
    spdlog::error("http: error responder threw: {}", e.what());
  } catch (...) {
    spdlog::error("http: error responder threw a non-exception");
  }
  Response fallback;
  fallback.status = error.httpStatus();
  return fallback;
}

// One TLS connection. All its work runs on its own strand, one operation at a time, so a handler
// blocking here holds one I/O thread and no other connection.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& core, tcp::socket&& socket)
      : core_(core), stream_(std::move(socket), core.ssl) {
    beast::error_code ec;
    auto& raw = beast::get_lowest_layer(stream_).socket();
    // Responses are one write each; Nagle would hold back the tail of a keep-alive response.
    raw.set_option(tcp::no_delay(true), ec);
    const auto remote = raw.remote_endpoint(ec);
    if (ec) {
      remote_address_ = "unknown";
    } else {
      remote_address_ = remote.address().to_string();
      remote_port_ = remote.port();
    }
    continue_.result(bhttp::status::continue_);
    continue_.version(11);
  }

  ~Session() { core_.unregisterSession(this); }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    // Refused when stop() already ran: dropping the session closes the socket.
    if (!core_.registerSession(this)) return;
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::doHandshake, shared_from_this()));
  }

  // Thread-safe. Closing the socket fails the pending operation, which ends the session.
  void abort() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->closeSocket(); });
  }

  // Only on the session's strand, or when no I/O thread runs.
  void closeSocket() { beast::get_lowest_layer(stream_).close(); }

 private:
  using Clock = std::chrono::steady_clock;

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  void doHandshake() {
    tcp().expires_after(core_.options.handshake_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            beast::bind_front_handler(&Session::onHandshake, shared_from_this()));
  }

  void onHandshake(beast::error_code ec) {
    if (ec) {
      spdlog::debug("http: TLS handshake with {} failed: {}", remote_address_, ec.message());
      return;
    }
    doReadHeader();
  }

  void doReadHeader() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(core_.options.max_body_bytes));
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        core_.options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    // One deadline for waiting idle and for the whole header: a client trickling bytes
    // (slowloris) cannot keep the connection past it.
    tcp().expires_after(core_.options.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::onReadHeader, shared_from_this()));
  }

  void onReadHeader(beast::error_code ec, std::size_t /*bytes*/) {
    started_ = Clock::now();
    if (ec) return onReadError(ec);
    if (parser_->is_done()) return handleRequest();
    const auto& message = parser_->get();
    // The client waits for this before sending the body; the header already passed the
    // Content-Length check against body_limit, so an oversized body was refused without it.
    if (message.version() == 11 &&
        equalsIgnoreCase(message[bhttp::field::expect], "100-continue")) {
      tcp().expires_after(core_.options.idle_timeout);
      bhttp::async_write(stream_, continue_,
                         beast::bind_front_handler(&Session::onContinueSent, shared_from_this()));
      return;
    }
    doReadBody();
  }

  void onContinueSent(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return;
    doReadBody();
  }

  void doReadBody() {
    tcp().expires_after(core_.options.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::onReadBody, shared_from_this()));
  }

  void onReadBody(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return onReadError(ec);
    handleRequest();
  }

  void onReadError(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream) return doShutdown();  // the client closed cleanly
    if (ec == bhttp::error::body_limit) {
      return refuse(Error(ErrorKind::kRequestEntityTooLarge, "The request body is too large.",
                          "body over max_body_bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      return refuse(Error(ErrorKind::kInvalidRequest, "The request header is too large.",
                          "header over max_header_bytes"));
    }
    // partial_message: the peer went away mid-request; nobody is left to answer.
    if (isHttpParseError(ec) && ec != bhttp::error::partial_message) {
      return refuse(
          Error(ErrorKind::kInvalidRequest, "The request is not valid HTTP/1.1.", ec.message()));
    }
    // Timeout, reset, truncation, abort from stop(): dropping the session closes the socket.
    spdlog::debug("http: connection from {} ended: {}", remote_address_, ec.message());
  }

  // Answers a request the handler never sees and closes: the parser's state is unusable.
  void refuse(const Error& error) {
    // A limit can trip before the header is complete; whatever request line was parsed is logged.
    const auto& partial = parser_->get();
    const std::string_view method = partial.method_string();
    const std::string_view path = pathOf(partial.target());
    log_method_ = method.empty() ? "-" : std::string(method);
    log_path_ = path.empty() ? "-" : std::string(path);
    // HTTP/1.1 even to a 1.0 client: a server answers with its own highest version.
    buildResponse(errorResponse(core_, error), 11, /*keep_alive=*/false, /*head=*/false);
    refused_ = true;
    doWrite();
  }

  static std::string_view pathOf(std::string_view target) {
    return target.substr(0, target.find('?'));
  }

  void handleRequest() {
    auto& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    const std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
      request.query = std::string(target.substr(question + 1));
    }
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;
    request.remote_port = remote_port_;

    Response response;
    try {
      response = core_.handler(request);
      if (response.status < 200 || response.status > 599) {
        response = errorResponse(core_, internalError("handler returned HTTP status " +
                                                      std::to_string(response.status)));
      }
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw on {} {}: {}", request.method, request.path, e.what());
      response = errorResponse(core_, internalError(e.what()));
    } catch (...) {
      spdlog::error("http: handler threw a non-exception on {} {}", request.method, request.path);
      response = errorResponse(core_, internalError("handler threw a non-exception"));
    }

    log_method_ = std::move(request.method);
    log_path_ = std::move(request.path);
    buildResponse(std::move(response), message.version(), message.keep_alive(),
                  message.method() == bhttp::verb::head);
    doWrite();
  }

  void buildResponse(Response&& response, unsigned version, bool keep_alive, bool head) {
    response_ = {};
    response_.version(version);
    // The responder is outside code as well; a nonsense status must not reach Beast (it throws).
    const bool valid_status = response.status >= 200 && response.status <= 599;
    response_.result(static_cast<unsigned>(valid_status ? response.status : 500));
    bool has_content_type = false;
    for (const auto& [name, value] : response.headers) {
      if (!isSafeHeader(name, value)) {
        spdlog::warn("http: dropped a response header with a line break");
        continue;
      }
      if (isFramingHeader(name)) continue;
      has_content_type = has_content_type || equalsIgnoreCase(name, "content-type");
      response_.insert(name, value);
    }
    if (!has_content_type) response_.set(bhttp::field::content_type, "application/json");
    response_.body() = std::move(response.body);
    if (response_.result() == bhttp::status::no_content ||
        response_.result() == bhttp::status::not_modified) {
      response_.body().clear();  // RFC 9110: no content and no Content-Length
    } else {
      response_.content_length(response_.body().size());
      if (head) response_.body().clear();  // the length of what GET would send, no bytes
    }
    response_.keep_alive(keep_alive);
  }

  void doWrite() {
    tcp().expires_after(core_.options.idle_timeout);
    bhttp::async_write(stream_, response_,
                       beast::bind_front_handler(&Session::onWrite, shared_from_this()));
  }

  void onWrite(beast::error_code ec, std::size_t bytes) {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
    // Never the query (it may carry tokens), the body or any header.
    spdlog::info("http {} {} {} {} {}B {}us{}", remote_address_, log_method_, log_path_,
                 response_.result_int(), bytes, micros, ec ? " (write failed)" : "");
    if (ec) return;
    if (refused_) return doLinger();
    if (response_.need_eof()) return doShutdown();
    doReadHeader();
  }

  // RFC 9112 9.6 lingering close. The TCP half-close tells the client the response is complete;
  // then the raw bytes it may still be sending (the rest of a refused body) are read and dropped
  // without decrypting, until it closes (curl stops sending on a status >= 300), the deadline or
  // kLingerMaxBytes. No close_notify: asio's shutdown waits for the peer's and fails on the
  // application data still in flight. The response is length-delimited, so nothing is lost.
  void doLinger() {
    beast::error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp().expires_after(core_.options.idle_timeout);
    buffer_.clear();
    discardMore();
  }

  void discardMore() {
    tcp().async_read_some(buffer_.prepare(kLingerChunk),
                          beast::bind_front_handler(&Session::onDiscarded, shared_from_this()));
  }

  // Any error, end of stream included, ends the session and the destructor closes the socket.
  void onDiscarded(beast::error_code ec, std::size_t bytes) {
    if (ec) return;
    lingered_ += bytes;
    if (lingered_ > kLingerMaxBytes) return;
    discardMore();
  }

  void doShutdown() {
    tcp().expires_after(core_.options.handshake_timeout);
    stream_.async_shutdown(beast::bind_front_handler(&Session::onShutdown, shared_from_this()));
  }

  // Whatever the outcome, the session ends here and the destructor closes the socket.
  void onShutdown(beast::error_code /*ec*/) {}

  ServerCore& core_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;  // kept across requests: it may hold the start of the next one
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  bhttp::response<bhttp::empty_body> continue_;
  std::string remote_address_;
  std::uint16_t remote_port_ = 0;
  std::string log_method_;
  std::string log_path_;
  Clock::time_point started_;
  bool refused_ = false;  // the connection ends after the response, by lingering
  std::size_t lingered_ = 0;
};

int threadCount(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equalsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

struct Server::Impl {
  Impl(ServerOptions options, Handler handler, ErrorResponder error_responder)
      : core(std::move(options), std::move(handler), std::move(error_responder)),
        thread_count(threadCount(core.options.threads)),
        ioc(thread_count) {}

  ~Impl() { stop(); }

  Status start() {
    {
      std::lock_guard lock(core.mutex);
      if (started) return internalError("http: server already started");
    }
    const ServerOptions& options = core.options;
    beast::error_code ec;

    // Options only add restrictions: SSLv2/3, TLS 1.0 and 1.1 are refused, 1.2 and 1.3 remain.
    core.ssl.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                             asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                             asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression,
                         ec);
    if (ec) return internalError("http: cannot set TLS options: " + ec.message());
    if (options.certificate_chain_file.empty() || options.private_key_file.empty()) {
      return internalError("http: certificate_chain_file and private_key_file are required");
    }
    core.ssl.use_certificate_chain_file(options.certificate_chain_file, ec);
    if (ec) {
      return environmentError("cannot load the server certificate chain " +
                              options.certificate_chain_file + ": " + ec.message());
    }
    // Fails too when the key does not match the certificate.
    core.ssl.use_private_key_file(options.private_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return environmentError("cannot load the server private key " + options.private_key_file +
                              ": " + ec.message());
    }

    const auto address = asio::ip::make_address(options.bind_address, ec);
    if (ec) {
      return Error(ErrorKind::kInvalidRequest,
                   "the API bind address is not an IP address: " + options.bind_address);
    }
    const tcp::endpoint endpoint(address, options.port);
    const std::string where = options.bind_address + ":" + std::to_string(options.port);
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return environmentError("cannot open a socket for " + where + ": " + ec.message());
    // Lets a restarted server bind while old connections linger in TIME_WAIT; a live listener
    // on the port still makes bind fail.
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      beast::error_code ignored;
      acceptor.close(ignored);
      return environmentError("cannot listen on " + where + ": " + ec.message());
    }
    bound_port = acceptor.local_endpoint(ec).port();

    {
      std::lock_guard lock(core.mutex);
      started = true;
    }
    doAccept();
    running_threads = thread_count;
    threads.reserve(static_cast<std::size_t>(thread_count));
    for (int i = 0; i < thread_count; ++i) threads.emplace_back([this] { runThread(); });
    spdlog::info("http: listening on {} port {} ({} threads)", options.bind_address, bound_port,
                 thread_count);
    return {};
  }

  void stop() {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(core.mutex);
      if (!started || core.stopping) return;
      core.stopping = true;
      for (Session* session : core.sessions) {
        if (auto alive = session->weak_from_this().lock()) live.push_back(std::move(alive));
      }
    }
    asio::post(acceptor.get_executor(), [this] {
      beast::error_code ignored;
      acceptor.close(ignored);
      accept_retry.cancel();
    });
    for (const auto& session : live) session->abort();
    live.clear();  // the sessions must be free to end as their operations fail

    {
      std::unique_lock lock(threads_mutex);
      if (!threads_done.wait_for(lock, kStopGrace, [this] { return running_threads == 0; })) {
        spdlog::warn("http: connections still busy after {} s; stopping the I/O threads",
                     kStopGrace.count());
        ioc.stop();
      }
    }
    for (auto& thread : threads) thread.join();
    threads.clear();

    // Only after a forced stop do sessions remain; no thread runs, so closing here is safe.
    {
      std::lock_guard lock(core.mutex);
      for (Session* session : core.sessions) {
        if (auto alive = session->weak_from_this().lock()) live.push_back(std::move(alive));
      }
    }
    for (const auto& session : live) session->closeSocket();
    live.clear();
    spdlog::info("http: stopped");
  }

  void doAccept() {
    acceptor.async_accept(asio::make_strand(ioc), beast::bind_front_handler(&Impl::onAccept, this));
  }

  void onAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;  // stop() closed it
    if (ec) {
      spdlog::warn("http: accept failed: {}", ec.message());
      accept_retry.expires_after(kAcceptRetryDelay);
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) doAccept();
      });
      return;
    }
    core.accepted.fetch_add(1, std::memory_order_relaxed);
    std::make_shared<Session>(core, std::move(socket))->start();
    doAccept();
  }

  void runThread() {
    // An exception escaping a completion handler must cost that one connection, not a thread.
    for (;;) {
      try {
        ioc.run();
        break;
      } catch (const std::exception& e) {
        spdlog::error("http: unexpected exception on an I/O thread: {}", e.what());
      } catch (...) {
        spdlog::error("http: unexpected non-exception on an I/O thread");
      }
    }
    std::lock_guard lock(threads_mutex);
    --running_threads;
    threads_done.notify_all();
  }

  // Declaration order is destruction order in reverse: handlers held by the io_context own the
  // sessions, which use core (and its TLS context), so ioc goes before core; the acceptor and
  // timer go before ioc.
  ServerCore core;
  const int thread_count;
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer accept_retry{acceptor.get_executor()};
  bool started = false;  // guarded by core.mutex
  std::uint16_t bound_port = 0;

  std::vector<std::thread> threads;
  std::mutex threads_mutex;
  std::condition_variable threads_done;
  int running_threads = 0;  // guarded by threads_mutex
};

Server::Server(ServerOptions options, Handler handler, ErrorResponder error_responder)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler),
                                   std::move(error_responder))) {}

Server::~Server() = default;

Status Server::start() { return impl_->start(); }

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::stop() { impl_->stop(); }

std::uint64_t Server::acceptedConnections() const {
  return impl_->core.accepted.load(std::memory_order_relaxed);
}

}  // namespace fleetgate::http
