// The only translation unit that includes Boost.Beast (it is heavy to compile). Written with
// completion handlers, not C++20 coroutines: clang 14 cannot emit debug information for
// coroutines under the sanitizers the fuzz and ASan builds use.
#include "rules/http_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <exception>
#include <memory>
#include <optional>

#include "rules/actions.h"

namespace fleetgate::rules {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kMaxResponseHead = 16 * 1024;

// One POST with its retries. Every handler runs on the call's strand, so the state needs no
// lock; each holds a shared_ptr, so the call lives until its last handler ran.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(asio::io_context& io, HttpPost post, HttpUrl url, RetryPolicy policy,
       std::function<void(HttpResult)> done)
      : strand_(asio::make_strand(io)),
        post_(std::move(post)),
        url_(std::move(url)),
        policy_(policy),
        done_(std::move(done)),
        resolver_(strand_),
        deadline_(strand_),
        backoff_(strand_) {
    policy_.attempts = std::max(1, policy_.attempts);
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->attempt(); });
  }

 private:
  void attempt() {
    ++result_.attempts;
    resolving_ = true;
    // The stream's own deadline covers connect, write and read; this one the name lookup.
    deadline_.expires_after(policy_.timeout);
    deadline_.async_wait([self = shared_from_this(), n = result_.attempts](error_code ec) {
      if (!ec && self->resolving_ && self->result_.attempts == n) self->resolver_.cancel();
    });
    resolver_.async_resolve(url_.host, url_.port,
                            [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
                              self->onResolved(ec, std::move(r));
                            });
  }

  void onResolved(error_code ec, tcp::resolver::results_type endpoints) {
    resolving_ = false;
    deadline_.cancel();
    if (ec) return attemptFailed(0, "cannot resolve " + url_.host + ": " + ec.message());
    stream_.emplace(strand_);
    stream_->expires_after(policy_.timeout);
    stream_->async_connect(endpoints, [self = shared_from_this()](error_code e,
                                                                   const tcp::endpoint&) {
      self->onConnected(e);
    });
  }

  void onConnected(error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) return attemptFailed(0, "cannot connect: timeout");
      return attemptFailed(0, "cannot connect: " + ec.message());
    }
    request_ = {http::verb::post, url_.target, 11};
    const bool ipv6 = url_.host.find(':') != std::string::npos;
    std::string host = ipv6 ? "[" + url_.host + "]" : url_.host;
    request_.set(http::field::host, url_.port == "80" ? host : host + ":" + url_.port);
    request_.set(http::field::user_agent, "fleetgate-rules");
    request_.set(http::field::connection, "close");
    bool has_content_type = false;
    for (const auto& [key, value] : post_.headers) {
      if (beast::iequals(key, "content-type")) has_content_type = true;
      // Substituted values could carry line breaks; a header never does.
      std::string clean = value;
      for (char& c : clean)
        if (c == '\r' || c == '\n') c = ' ';
      request_.set(key, clean);
    }
    if (!has_content_type) request_.set(http::field::content_type, "application/json");
    request_.body() = post_.body;
    request_.prepare_payload();
    http::async_write(*stream_, request_, [self = shared_from_this()](error_code e, std::size_t) {
      self->onWritten(e);
    });
  }

  void onWritten(error_code ec) {
    if (ec) return attemptFailed(0, "cannot send the request: " + ec.message());
    // Only the status decides; the body is not read.
    buffer_.clear();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(kMaxResponseHead));
    http::async_read_header(*stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code e, std::size_t) {
                              self->onHead(e);
                            });
  }

  void onHead(error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) return attemptFailed(0, "no response within the timeout");
      return attemptFailed(0, "invalid or no HTTP response: " + ec.message());
    }
    const int status = static_cast<int>(parser_->get().result_int());
    error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (status >= 200 && status < 300) {
      result_.ok = true;
      result_.status = status;
      result_.error.clear();
      return finish();
    }
    attemptFailed(status, fmt::format("the endpoint answered HTTP {}", status));
  }

  void attemptFailed(int status, std::string error) {
    stream_.reset();
    result_.status = status;
    result_.error = std::move(error);
    if (result_.attempts >= policy_.attempts) return finish();
    backoff_.expires_after(policy_.backoff * (1LL << std::min(result_.attempts - 1, 20)));
    backoff_.async_wait([self = shared_from_this()](error_code) { self->attempt(); });
  }

  void finish() {
    stream_.reset();
    auto done = std::move(done_);
    done(std::move(result_));
  }

  asio::strand<asio::io_context::executor_type> strand_;
  HttpPost post_;
  HttpUrl url_;
  RetryPolicy policy_;
  std::function<void(HttpResult)> done_;
  HttpResult result_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  asio::steady_timer backoff_;
  bool resolving_ = false;
  std::optional<beast::tcp_stream> stream_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::empty_body>> parser_;
};

}  // namespace

void postWithRetries(asio::io_context& io, HttpPost post, RetryPolicy policy,
                     std::function<void(HttpResult)> done) {
  auto url = parseHttpUrl(post.url);
  if (!url) {
    HttpResult result;
    result.attempts = 1;
    result.error = "invalid http:// URL " + post.url;
    // Still asynchronous, as callers expect.
    asio::post(io, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
    return;
  }
  std::make_shared<Call>(io, std::move(post), std::move(*url), policy, std::move(done))->start();
}

}  // namespace fleetgate::rules
