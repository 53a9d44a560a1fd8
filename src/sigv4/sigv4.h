#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

// AWS Signature Version 4 verification (header form, `Authorization: AWS4-HMAC-SHA256 ...`) for
// the REST control plane. The canonical request is built exactly as botocore builds it for
// rest-json services, since botocore (aws CLI, boto3) is the client that must work unchanged.
namespace fleetgate::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::chrono::minutes kMaxClockSkew{15};
// Debian's awscli 2.9 / boto3 sign IoT with "execute-api" (the model's signingName); newer
// botocore signs with "iot". Both are accepted.
inline constexpr std::string_view kServiceIot = "iot";
inline constexpr std::string_view kServiceExecuteApi = "execute-api";

struct Request {
  std::string_view method;
  std::string_view path;   // raw path as sent on the wire (still percent-encoded)
  std::string_view query;  // raw query string without '?', may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // as received, any case
  std::string_view body;
};

struct Identity {
  std::string access_key_id;
  std::string region;
  std::string service;
};

// Returns the secret for an access key id, or nullopt when the key is unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

// Verifies an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
// request. Accepts credential-scope service "iot" or "execute-api". Checks: header syntax, the
// x-amz-date (or Date) within +-15 minutes of `now`, scope date == request date, scope terminator
// aws4_request, host header signed, access key known, payload hash, signature (constant time).
// The region is not checked here: it is returned for the caller to compare with its own.
Result<Identity> verify(const Request& request, const SecretLookup& lookup, TimePoint now);

// `t` as an X-Amz-Date value, YYYYMMDDTHHMMSSZ.
std::string formatAmzDate(TimePoint t);

// Signs `request` as botocore does and returns the Authorization header value. Every header in
// request.headers is signed; they must include host and x-amz-date (= `amz_date`,
// YYYYMMDDTHHMMSSZ). For clients of our own: benchmarks, tests, tooling.
std::string sign(const Request& request, std::string_view access_key_id, std::string_view secret,
                 std::string_view region, std::string_view service, std::string_view amz_date);

// The parts of an Authorization header value; views into that value.
struct Authorization {
  std::string_view access_key_id;
  std::string_view date;  // YYYYMMDD
  std::string_view region;
  std::string_view service;
  std::string_view terminator;
  std::string_view signed_headers;  // "host;x-amz-date", lowercase, sorted, unique
  std::string_view signature;       // 64 hex digits
};

// Syntax only (kIncompleteSignature on any problem); scope semantics are checked by verify().
Result<Authorization> parseAuthorization(std::string_view value);

// RFC 3986 dot-segment removal plus collapsing of empty segments, as botocore does before
// signing. The HTTP router should route on the same form (or refuse paths it changes), since two
// raw paths with one normalized form carry the same signature.
std::string normalizePath(std::string_view raw_path);

// botocore's canonical URI: the normalized raw path percent-encoded again ('%' -> "%25"), with
// RFC 3986 unreserved characters and '/' kept.
std::string canonicalUri(std::string_view raw_path);

// Pairs percent-decoded then re-encoded (RFC 3986, '+' is a literal plus), sorted by encoded key
// then encoded value, "k=" for a missing value. nullopt on an invalid %-escape.
std::optional<std::string> canonicalQuery(std::string_view raw_query);

}  // namespace fleetgate::sigv4
