#include "sigv4/sigv4.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "common/encoding.h"
#include "pki/digest.h"

namespace fleetgate::sigv4 {
namespace {

using std::chrono::sys_seconds;

// Generous for any real client (botocore's header is ~200 bytes plus the signed-header list)
// while keeping hostile input cheap to reject.
constexpr std::size_t kMaxAuthorizationSize = 8192;
constexpr std::size_t kMaxSignedHeaders = 128;
constexpr std::size_t kMaxHeaderNameSize = 256;
constexpr std::size_t kMaxAccessKeyIdSize = 128;
constexpr std::size_t kMaxScopeElementSize = 64;
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::string_view kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

Error incomplete(std::string message) {
  return Error(ErrorKind::kIncompleteSignature, std::move(message));
}

Error invalidSignature(std::string message, std::string cause = {}) {
  return Error(ErrorKind::kInvalidSignature, std::move(message), std::move(cause));
}

Error mismatch(std::string cause) {
  return invalidSignature(std::string(kMismatchMessage), std::move(cause));
}

char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || isDigit(c); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Python's str.split() whitespace restricted to ASCII: botocore trims header values with it.
bool isValueSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
         (c >= '\x1c' && c <= '\x1f');
}

bool isSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool equalsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != lower[i]) return false;
  }
  return true;
}

// RFC 7230 token characters, lowercase only: SigV4 signed-header names are lowercased.
bool isLowerTokenChar(char c) {
  return isLowerAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

template <typename Pred>
bool allOf(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), pred);
}

// Collapses every run of whitespace to one space and drops it at both ends (botocore's
// ' '.join(value.split())).
void appendTrimmedValue(std::string& out, std::string_view value) {
  bool pending_space = false;
  bool wrote = false;
  for (char c : value) {
    if (isValueSpace(c)) {
      pending_space = wrote;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
    wrote = true;
  }
}

struct FoundHeader {
  std::size_t count = 0;
  std::string_view value;
};

FoundHeader findHeader(const Request& request, std::string_view lower_name) {
  FoundHeader found;
  for (const auto& [name, value] : request.headers) {
    if (equalsIgnoreCase(name, lower_name) && found.count++ == 0) found.value = value;
  }
  return found;
}

std::optional<int> parseDigits(std::string_view s) {
  if (s.empty() || s.size() > 4 || !allOf(s, isDigit)) return std::nullopt;
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::optional<sys_seconds> makeTime(int year, int month, int day, int hour, int minute,
                                    int second) {
  std::chrono::year_month_day ymd{std::chrono::year{year},
                                  std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  return std::chrono::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
         std::chrono::seconds{second};
}

// "20150830T123600Z"
std::optional<sys_seconds> parseIsoBasic(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  auto y = parseDigits(s.substr(0, 4)), mo = parseDigits(s.substr(4, 2)),
       d = parseDigits(s.substr(6, 2)), h = parseDigits(s.substr(9, 2)),
       mi = parseDigits(s.substr(11, 2)), se = parseDigits(s.substr(13, 2));
  if (!y || !mo || !d || !h || !mi || !se) return std::nullopt;
  return makeTime(*y, *mo, *d, *h, *mi, *se);
}

// RFC 1123 date as sent in a Date header: "[Mon, ]30 Aug 2015 12:36:00 GMT". botocore writes the
// zone as "-0000" (email.utils.formatdate), so the numeric UTC forms are accepted too.
std::optional<sys_seconds> parseHttpDate(std::string_view s) {
  s = trim(s);
  if (s.size() > 64) return std::nullopt;
  if (s.size() > 4 && s[3] == ',') s = trim(s.substr(4));
  std::array<std::string_view, 5> tokens;
  std::size_t n = 0;
  while (!s.empty()) {
    if (n == tokens.size()) return std::nullopt;
    std::size_t end = std::min(s.find(' '), s.size());
    tokens[n++] = s.substr(0, end);
    s = trim(s.substr(end));
  }
  if (n != tokens.size()) return std::nullopt;
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto month_it = std::find(kMonths.begin(), kMonths.end(), tokens[1]);
  static constexpr std::array<std::string_view, 6> kZones = {"GMT", "UTC",   "UT",
                                                             "Z",   "+0000", "-0000"};
  std::string_view time = tokens[3];
  if (month_it == kMonths.end() || tokens[0].size() > 2 || tokens[2].size() != 4 ||
      time.size() != 8 || time[2] != ':' || time[5] != ':' ||
      std::find(kZones.begin(), kZones.end(), tokens[4]) == kZones.end()) {
    return std::nullopt;
  }
  auto d = parseDigits(tokens[0]), y = parseDigits(tokens[2]), h = parseDigits(time.substr(0, 2)),
       mi = parseDigits(time.substr(3, 2)), se = parseDigits(time.substr(6, 2));
  if (!d || !y || !h || !mi || !se) return std::nullopt;
  return makeTime(*y, static_cast<int>(month_it - kMonths.begin()) + 1, *d, *h, *mi, *se);
}

std::string formatIsoBasic(sys_seconds t) {
  auto day = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{t - day};
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf.data();
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t pos = s.find(separator);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

Status parseCredential(std::string_view credential, Authorization& out) {
  // Counting first keeps a hostile "a/a/a/..." from building a large vector.
  if (std::count(credential.begin(), credential.end(), '/') != 4) {
    return incomplete(
        "Credential must have the form "
        "<access-key-id>/<YYYYMMDD>/<region>/<service>/aws4_request.");
  }
  auto parts = split(credential, '/');
  out.access_key_id = parts[0];
  out.date = parts[1];
  out.region = parts[2];
  out.service = parts[3];
  out.terminator = parts[4];
  // AWS's AccessKeyId pattern is [\w]+.
  if (out.access_key_id.empty() || out.access_key_id.size() > kMaxAccessKeyIdSize ||
      !allOf(out.access_key_id, [](char c) { return isAlnum(c) || c == '_'; })) {
    return incomplete("Credential has an invalid access key id.");
  }
  if (out.date.size() != 8 || !allOf(out.date, isDigit)) {
    return incomplete("Credential date must be YYYYMMDD.");
  }
  auto scope_element_ok = [](std::string_view s) {
    return !s.empty() && s.size() <= kMaxScopeElementSize &&
           allOf(s, [](char c) { return isLowerAlnum(c) || c == '-' || c == '_'; });
  };
  if (!scope_element_ok(out.region) || !scope_element_ok(out.service) ||
      !scope_element_ok(out.terminator)) {
    return incomplete("Credential scope elements must be lowercase letters, digits, '-' or '_'.");
  }
  return {};
}

Status parseSignedHeaders(std::string_view value) {
  if (static_cast<std::size_t>(std::count(value.begin(), value.end(), ';')) >= kMaxSignedHeaders) {
    return incomplete("SignedHeaders lists too many headers.");
  }
  std::string_view previous;
  for (std::string_view name : split(value, ';')) {
    if (name.empty() || name.size() > kMaxHeaderNameSize || !allOf(name, isLowerTokenChar)) {
      return incomplete("SignedHeaders must be lowercase header names separated by ';'.");
    }
    if (!previous.empty() && !(previous < name)) {
      return incomplete("SignedHeaders must be sorted and must not repeat a header.");
    }
    previous = name;
  }
  return {};
}

// The canonical request of SigV4 over already canonical parts.
std::string canonicalRequest(std::string_view method, std::string_view raw_path,
                             std::string_view canonical_query,
                             const std::vector<std::string_view>& signed_names,
                             const std::vector<std::string>& values,
                             std::string_view signed_headers, std::string_view payload_hash) {
  std::string canonical;
  canonical.reserve(method.size() + raw_path.size() * 3 + canonical_query.size() + 256);
  canonical.append(method).push_back('\n');
  canonical.append(canonicalUri(raw_path)).push_back('\n');
  canonical.append(canonical_query).push_back('\n');
  for (std::size_t i = 0; i < signed_names.size(); ++i) {
    canonical.append(signed_names[i]).push_back(':');
    canonical.append(values[i]).push_back('\n');
  }
  canonical.push_back('\n');
  canonical.append(signed_headers).push_back('\n');
  canonical.append(payload_hash);
  return canonical;
}

// Lowercase hex HMAC of the string to sign under the key derived for date/region/service.
std::string signature(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, std::string_view timestamp,
                      std::string_view canonical) {
  auto view = [](const pki::Digest& d) {
    return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
  };
  std::string scope = std::string(date) + '/' + std::string(region) + '/' +
                      std::string(service) + '/' + std::string(kTerminator);
  std::string string_to_sign = std::string(kAlgorithm) + '\n' + std::string(timestamp) + '\n' +
                               scope + '\n' + pki::sha256Hex(canonical);
  pki::Digest key = pki::hmacSha256("AWS4" + std::string(secret), date);
  key = pki::hmacSha256(view(key), region);
  key = pki::hmacSha256(view(key), service);
  key = pki::hmacSha256(view(key), kTerminator);
  return hexEncode(pki::hmacSha256(view(key), string_to_sign));
}

}  // namespace


Result<Authorization> parseAuthorization(std::string_view value) {
  if (value.size() > kMaxAuthorizationSize) return incomplete("Authorization header is too long.");
  value = trim(value);
  std::size_t space = std::min(value.find_first_of(" \t"), value.size());
  if (value.substr(0, space) != kAlgorithm) {
    return incomplete("Unsupported Authorization Type: only AWS4-HMAC-SHA256 is accepted.");
  }
  std::string_view credential, signed_headers, signature;
  std::string_view parameters = trim(value.substr(space));
  for (std::string_view part :
       parameters.empty() ? std::vector<std::string_view>() : split(parameters, ',')) {
    part = trim(part);
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq + 1 == part.size()) {
      return incomplete("Authorization header parameters must have the form Name=Value.");
    }
    std::string_view name = part.substr(0, eq), field = part.substr(eq + 1);
    std::string_view* slot = name == "Credential"      ? &credential
                             : name == "SignedHeaders" ? &signed_headers
                             : name == "Signature"     ? &signature
                                                       : nullptr;
    if (slot == nullptr) {
      return incomplete(
          "Authorization header has an unknown parameter; only Credential, "
          "SignedHeaders and Signature are allowed.");
    }
    if (!slot->empty()) return incomplete("Authorization header repeats a parameter.");
    *slot = field;
  }
  if (credential.empty() || signed_headers.empty() || signature.empty()) {
    return incomplete(
        "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");
  }
  Authorization out;
  FG_RETURN_IF_ERROR(parseCredential(credential, out));
  FG_RETURN_IF_ERROR(parseSignedHeaders(signed_headers));
  out.signed_headers = signed_headers;
  if (signature.size() != 64 || !allOf(signature, isHex)) {
    return incomplete("Signature must be 64 hexadecimal digits.");
  }
  out.signature = signature;
  return out;
}

std::string normalizePath(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  std::vector<std::string_view> segments;
  for (std::string_view segment : split(raw_path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string out;
  out.reserve(raw_path.size());
  if (raw_path.front() == '/') out.push_back('/');
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    out.append(segments[i]);
  }
  if (raw_path.back() == '/' && !segments.empty()) out.push_back('/');
  return out;
}

std::string canonicalUri(std::string_view raw_path) {
  return percentEncode(normalizePath(raw_path), /*keep_slash=*/true);
}

std::optional<std::string> canonicalQuery(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::size_t total = 0;
  for (std::string_view piece : split(raw_query, '&')) {
    if (piece.empty()) continue;
    std::size_t eq = std::min(piece.find('='), piece.size());
    auto key = percentDecode(piece.substr(0, eq));
    auto value = percentDecode(eq < piece.size() ? piece.substr(eq + 1) : std::string_view());
    if (!key || !value) return std::nullopt;
    pairs.emplace_back(percentEncode(*key, false), percentEncode(*value, false));
    total += pairs.back().first.size() + pairs.back().second.size() + 2;
  }
  // Sorting the encoded forms is what botocore (and the SigV4 spec) do; it differs from sorting
  // decoded bytes, e.g. "a%2Fb" < "a-b" but "a-b" < "a/b".
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  out.reserve(total);
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out.append(key).push_back('=');
    out.append(value);
  }
  return out;
}

std::string formatAmzDate(TimePoint t) {
  return formatIsoBasic(std::chrono::floor<std::chrono::seconds>(t));
}

std::string sign(const Request& request, std::string_view access_key_id,
                 std::string_view secret, std::string_view region, std::string_view service,
                 std::string_view amz_date) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), toLower);
    std::string trimmed;
    appendTrimmedValue(trimmed, value);
    headers.emplace_back(std::move(lower), std::move(trimmed));
  }
  std::sort(headers.begin(), headers.end());
  std::vector<std::string_view> names;
  std::vector<std::string> values;
  std::string signed_headers;
  for (const auto& [name, value] : headers) {
    if (!names.empty() && names.back() == name) {
      values.back() += "," + value;
      continue;
    }
    names.push_back(name);
    values.push_back(value);
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }
  const std::string canonical =
      canonicalRequest(request.method, request.path, canonicalQuery(request.query).value_or(""),
                       names, values, signed_headers, pki::sha256Hex(request.body));
  const std::string_view date = amz_date.substr(0, 8);
  return std::string(kAlgorithm) + " Credential=" + std::string(access_key_id) + "/" +
         std::string(date) + "/" + std::string(region) + "/" + std::string(service) + "/" +
         std::string(kTerminator) + ", SignedHeaders=" + signed_headers + ", Signature=" +
         signature(secret, date, region, service, amz_date, canonical);
}

Result<Identity> verify(const Request& request, const SecretLookup& lookup, TimePoint now) {
  FoundHeader authorization = findHeader(request, "authorization");
  if (authorization.count == 0) {
    return Error(ErrorKind::kMissingAuthenticationToken, "Missing Authentication Token");
  }
  if (authorization.count > 1) return incomplete("Only one Authorization header is allowed.");
  FG_ASSIGN_OR_RETURN(Authorization auth, parseAuthorization(authorization.value));

  // X-Amz-Date wins over Date when both are present (SigV4 rule, and botocore sends one only).
  std::optional<sys_seconds> request_time;
  FoundHeader amz_date = findHeader(request, "x-amz-date");
  if (amz_date.count > 1) return incomplete("Only one X-Amz-Date header is allowed.");
  if (amz_date.count == 1) {
    request_time = parseIsoBasic(trim(amz_date.value));
    if (!request_time) {
      return incomplete("X-Amz-Date must be in ISO-8601 basic format, e.g. 20150830T123600Z.");
    }
  } else {
    FoundHeader date = findHeader(request, "date");
    if (date.count == 0) {
      return incomplete(
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    if (date.count > 1) return incomplete("Only one Date header is allowed.");
    request_time = parseHttpDate(date.value);
    if (!request_time) return incomplete("Date header must be an RFC 1123 date in GMT.");
  }
  const std::string timestamp = formatIsoBasic(*request_time);

  const sys_seconds now_s = std::chrono::floor<std::chrono::seconds>(now);
  if (*request_time < now_s - kMaxClockSkew) {
    return invalidSignature("Signature expired: " + timestamp + " is now earlier than " +
                            formatIsoBasic(now_s - kMaxClockSkew) + " (" + formatIsoBasic(now_s) +
                            " - 15 min.)");
  }
  if (*request_time > now_s + kMaxClockSkew) {
    return invalidSignature("Signature not yet current: " + timestamp + " is still later than " +
                            formatIsoBasic(now_s + kMaxClockSkew) + " (" + formatIsoBasic(now_s) +
                            " + 15 min.)");
  }
  const std::string_view day = std::string_view(timestamp).substr(0, 8);
  if (auth.date != day) {
    return invalidSignature(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '" +
        std::string(auth.date) + "' != '" + std::string(day) + "', from '" + timestamp + "'.");
  }
  if (auth.terminator != kTerminator) {
    return invalidSignature("Credential should be scoped with a valid terminator: " +
                            std::string("'aws4_request', not '") + std::string(auth.terminator) +
                            "'.");
  }
  if (auth.service != kServiceIot && auth.service != kServiceExecuteApi) {
    return invalidSignature("Credential should be scoped to correct service: 'iot'.");
  }
  const std::vector<std::string_view> signed_names = split(auth.signed_headers, ';');
  if (!std::binary_search(signed_names.begin(), signed_names.end(), "host")) {
    return incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }

  std::optional<std::string> secret = lookup(auth.access_key_id);
  if (!secret) {
    return Error(ErrorKind::kUnrecognizedClient,
                 "The security token included in the request is invalid.",
                 "unknown access key id " + std::string(auth.access_key_id));
  }

  // One pass over the received headers; signed names are sorted, so each lookup is a binary
  // search and repeated occurrences are joined with ',' in the order received.
  std::vector<std::string> values(signed_names.size());
  std::vector<bool> present(signed_names.size(), false);
  std::string lower;
  for (const auto& [name, value] : request.headers) {
    if (name.size() > kMaxHeaderNameSize) continue;  // cannot be a signed name
    lower.assign(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), toLower);
    auto it = std::lower_bound(signed_names.begin(), signed_names.end(), lower);
    if (it == signed_names.end() || *it != lower) continue;
    auto index = static_cast<std::size_t>(it - signed_names.begin());
    if (present[index]) values[index].push_back(',');
    present[index] = true;
    appendTrimmedValue(values[index], value);
  }
  for (std::size_t i = 0; i < signed_names.size(); ++i) {
    if (!present[i]) return mismatch("signed header missing: " + std::string(signed_names[i]));
  }

  std::string payload_hash;
  FoundHeader content_sha = findHeader(request, "x-amz-content-sha256");
  if (content_sha.count > 1) return incomplete("Only one X-Amz-Content-SHA256 header is allowed.");
  if (content_sha.count == 1) {
    payload_hash = std::string(content_sha.value);
    if (payload_hash != kUnsignedPayload && payload_hash != pki::sha256Hex(request.body)) {
      return invalidSignature(
          "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
  } else {
    payload_hash = pki::sha256Hex(request.body);
  }

  std::optional<std::string> query = canonicalQuery(request.query);
  if (!query) {
    return invalidSignature("The query string contains an invalid percent-encoding.");
  }

  const std::string canonical = canonicalRequest(request.method, request.path, *query,
                                                 signed_names, values, auth.signed_headers,
                                                 payload_hash);
  const std::string expected = signature(*secret, auth.date, auth.region, auth.service,
                                         timestamp, canonical);

  std::string provided(auth.signature);
  std::transform(provided.begin(), provided.end(), provided.begin(), toLower);
  if (!pki::constantTimeEquals(expected, provided)) {
    return mismatch("canonical request:\n" + canonical);
  }
  return Identity{std::string(auth.access_key_id), std::string(auth.region),
                  std::string(auth.service)};
}

}  // namespace fleetgate::sigv4
