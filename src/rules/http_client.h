#pragma once

// The HTTP/1.1 client of the http action: one POST per attempt over a fresh connection, retried
// with exponential backoff. Boost.Beast stays inside http_client.cc.

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace fleetgate::rules {

struct HttpPost {
  std::string url;  // http:// only
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct RetryPolicy {
  int attempts = 3;
  std::chrono::milliseconds backoff{100};  // before the 2nd attempt; doubled for each next one
  std::chrono::milliseconds timeout{3000};  // per attempt: connect, send, response head
};

struct HttpResult {
  bool ok = false;  // a 2xx answer
  int attempts = 0;
  int status = 0;  // of the last answer; 0 when there was none
  std::string error;  // why the last attempt failed
};

// Starts the POST on `io`'s threads and returns at once; `done` runs exactly once, on one of
// them, unless `io` is stopped and destroyed first.
void postWithRetries(boost::asio::io_context& io, HttpPost post, RetryPolicy policy,
                     std::function<void(HttpResult)> done);

}  // namespace fleetgate::rules
