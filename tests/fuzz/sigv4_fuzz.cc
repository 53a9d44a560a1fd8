// Input: "<Authorization>\n<X-Amz-Date>\n<path>\n<query>\n<body...>". The lookup knows one key and
// the clock is fixed at the seeds' signing time, so seeds signed by botocore reach the signature
// comparison and mutations of them explore every check on the way.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sigv4/sigv4.h"

namespace {

std::string_view nextField(std::string_view& input) {
  std::size_t end = input.find('\n');
  std::string_view field = input.substr(0, end);
  input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono_literals;
  namespace sigv4 = fleetgate::sigv4;
  static const fleetgate::TimePoint kNow =
      std::chrono::sys_days{std::chrono::year{2024} / 3 / 5} + 12h + 34min + 56s;

  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view authorization = nextField(input);
  std::string_view amz_date = nextField(input);
  std::string_view path = nextField(input);
  std::string_view query = nextField(input);

  sigv4::Request request;
  request.method = "POST";
  request.path = path;
  request.query = query;
  request.body = input;
  request.headers = {{"Host", "iot.example.test"},
                     {"Authorization", std::string(authorization)},
                     {"X-Amz-Date", std::string(amz_date)},
                     {"Content-Type", "application/json"}};
  auto lookup = [](std::string_view id) -> std::optional<std::string> {
    if (id == "AKIDFLEETGATEEXAMPLE")
      return std::string("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    return std::nullopt;
  };
  (void)sigv4::verify(request, lookup, kNow);
  // The pieces on their own, so mutations that fail early checks still exercise them.
  (void)sigv4::parseAuthorization(authorization);
  (void)sigv4::canonicalUri(path);
  (void)sigv4::canonicalQuery(query);
  return 0;
}
