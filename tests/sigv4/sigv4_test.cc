#include "sigv4/sigv4.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/encoding.h"
#include "pki/digest.h"

namespace fleetgate::sigv4 {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr std::string_view kAccessKeyId = "AKIDFLEETGATEEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kTimestamp = "20240305T123456Z";
const TimePoint kSignTime =
    std::chrono::sys_days{std::chrono::year{2024} / 3 / 5} + 12h + 34min + 56s;

// botocore is the independent reference: every signature below is computed by it at test time
// (SigV4Auth directly, or a real boto3 IoT client whose send is intercepted, which signs through
// awscrt when that is installed), with its clock frozen at kTimestamp so skew checks are
// deterministic.
constexpr std::string_view kSignerScript = R"PY(
import base64, datetime, json, os, sys, types
from urllib.parse import urlsplit

os.environ['AWS_CONFIG_FILE'] = os.devnull
os.environ['AWS_SHARED_CREDENTIALS_FILE'] = os.devnull
for name in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY',
             'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_DEFAULT_REGION'):
    os.environ.pop(name, None)

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

try:
    # With awscrt installed (Debian's python3-awscrt) boto3 clients sign through the CRT signer:
    # a second, independent implementation.
    import botocore.crt.auth as crt_auth
except ImportError:
    crt_auth = None

ENDPOINT = 'https://iot.example.test:8443'


def freeze_clock(timestamp):
    fixed = datetime.datetime.strptime(timestamp, '%Y%m%dT%H%M%SZ')

    class FrozenDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    frozen = types.SimpleNamespace(datetime=FrozenDateTime, timezone=datetime.timezone)
    botocore.auth.datetime = frozen
    if crt_auth is not None:
        crt_auth.datetime = frozen


def wire(method, url, header_items, body):
    parts = urlsplit(url)
    headers = [[k, v if isinstance(v, str) else v.decode('latin-1')] for k, v in header_items]
    if not any(k.lower() == 'host' for k, _ in headers):
        # What urllib3 sends, and what botocore signed when no Host header was set.
        headers.append(['Host', botocore.auth._host_from_url(url)])
    if body is None:
        body = b''
    if isinstance(body, str):
        body = body.encode('utf-8')
    return {'method': method, 'path': parts.path, 'query': parts.query, 'headers': headers,
            'body_b64': base64.b64encode(body).decode('ascii')}


def sign_direct(case, config):
    url = ENDPOINT + case['path']
    if case.get('params'):
        url += '?' + percent_encode_sequence(case['params'])
    body = case.get('body', '').encode('utf-8')
    request = AWSRequest(method=case['method'], url=url, data=body)
    for name, value in case.get('headers', []):
        request.headers[name] = value  # HTTPHeaders appends: repeated names stay repeated
    credentials = Credentials(config['access_key'], config['secret_key'])
    SigV4Auth(credentials, case['service'], config['region']).add_auth(request)
    return wire(request.method, request.url, request.headers.items(), body)


def sign_boto3(case, config):
    import boto3
    client = boto3.client('iot', region_name=config['region'], endpoint_url=ENDPOINT,
                          aws_access_key_id=config['access_key'],
                          aws_secret_access_key=config['secret_key'])
    captured = {}

    class Raw:
        def stream(self, **kwargs):
            yield b'{}'

    def before_send(request, **kwargs):
        captured['request'] = request
        return AWSResponse(request.url, 200, {}, Raw())

    client.meta.events.register('before-send.iot.*', before_send)
    getattr(client, case['operation'])(**case['args'])
    request = captured['request']
    return wire(request.method, request.url, request.headers.items(), request.body)


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        config = json.load(f)
    freeze_clock(config['timestamp'])
    out = {}
    for case in config['cases']:
        sign = sign_boto3 if 'operation' in case else sign_direct
        out[case['label']] = sign(case, config)
    json.dump(out, sys.stdout)


main()
)PY";

struct WireRequest {
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  Request view() const { return Request{method, path, query, headers, body}; }
};

// Query parameters and headers are lists of pairs: names may repeat.
Json pairs(std::initializer_list<std::pair<std::string, std::string>> items) {
  Json out = Json::array();
  for (const auto& [name, value] : items) out.push_back(Json::array({name, value}));
  return out;
}

Json signingCases() {
  Json cases = Json::array();
  auto add = [&](Json c) { cases.push_back(std::move(c)); };
  const Json query_params = pairs({{"attributeName", "color"},
                                   {"attributeValue", "dark  blue ~ \xc3\xbc\xe2\x82\xac"},
                                   {"maxResults", "10"},
                                   {"nextToken", "a/b+c=="}});
  add({{"label", "get_query_iot"},
       {"service", "iot"},
       {"method", "GET"},
       {"path", "/things"},
       {"params", query_params}});
  add({{"label", "get_query_execute_api"},
       {"service", "execute-api"},
       {"method", "GET"},
       {"path", "/things"},
       {"params", query_params}});
  add({{"label", "post_json"},
       {"service", "execute-api"},
       {"method", "POST"},
       {"path", "/policies/my-policy"},
       {"headers", pairs({{"Content-Type", "application/json"}})},
       {"body", R"({"policyDocument": "{\"Version\": \"2012-10-17\", \"Statement\": []}"})"}});
  add({{"label", "arn_path"},
       {"service", "iot"},
       {"method", "POST"},
       {"path", "/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Acert%2Fabc"},
       {"params", pairs({{"recursive", "false"}, {"pageSize", "25"}})}});
  // Keys whose order differs between encoded and decoded forms, repeated keys, empty values.
  add({{"label", "sort_order"},
       {"service", "iot"},
       {"method", "GET"},
       {"path", "/things"},
       {"params", pairs({{"a-b", "1"},
                         {"a/b", "2"},
                         {"tag", "z"},
                         {"tag", "a"},
                         {"empty", ""},
                         {"Upper", "~x"}})}});
  add({{"label", "dot_segments"},
       {"service", "iot"},
       {"method", "GET"},
       {"path", "/things/./old/../thing-1//principals/"}});
  add({{"label", "date_header"},
       {"service", "execute-api"},
       {"method", "GET"},
       {"path", "/things/t1"},
       {"headers", pairs({{"Date", "replaced by botocore"}})}});
  add({{"label", "header_values"},
       {"service", "iot"},
       {"method", "PATCH"},
       {"path", "/things/t1"},
       {"headers",
        pairs({{"X-Custom", "  a   b\t c  "}, {"X-Multi", "one"}, {"X-Multi", " two  2 "}})},
       {"body", "{}"}});
  const std::string content_body = R"({"setAsActive": true})";
  add({{"label", "content_sha"},
       {"service", "iot"},
       {"method", "POST"},
       {"path", "/certificates"},
       {"headers", pairs({{"X-Amz-Content-SHA256", pki::sha256Hex(content_body)}})},
       {"body", content_body}});
  add({{"label", "unsigned_payload"},
       {"service", "iot"},
       {"method", "POST"},
       {"path", "/certificates"},
       {"headers", pairs({{"X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"}})},
       {"body", content_body}});
  // Real boto3 IoT client calls: the model's serialization and signing name, end to end.
  add({{"label", "boto3_list_attached_policies"},
       {"operation", "list_attached_policies"},
       {"args", {{"target", "arn:aws:iot:us-east-1:123456789012:cert/abc"}, {"recursive", true}}}});
  add({{"label", "boto3_list_things"},
       {"operation", "list_things"},
       {"args", {{"attributeName", "color"}, {"attributeValue", "dark blue ~\xc3\xbc"}}}});
  add({{"label", "boto3_create_policy"},
       {"operation", "create_policy"},
       {"args",
        {{"policyName", "p1"}, {"policyDocument", R"({"Version":"2012-10-17","Statement":[]})"}}}});
  return cases;
}

class SigV4Test : public testing::Test {
 protected:
  static void SetUpTestSuite() { signed_ = new std::map<std::string, WireRequest>(signAll()); }
  static void TearDownTestSuite() {
    delete signed_;
    signed_ = nullptr;
  }

  static std::map<std::string, WireRequest> signAll() {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "fg-sigv4-XXXXXX").string();
    char* dir = mkdtemp(dir_template.data());
    if (dir == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return {};
    }
    std::filesystem::path root(dir);
    Json config = {{"access_key", kAccessKeyId},
                   {"secret_key", kSecret},
                   {"region", "us-east-1"},
                   {"timestamp", kTimestamp},
                   {"cases", signingCases()}};
    std::ofstream(root / "sign.py") << kSignerScript;
    std::ofstream(root / "cases.json") << config.dump();
    std::string command = "/usr/bin/python3 " + (root / "sign.py").string() + " " +
                          (root / "cases.json").string() + " 2>&1";
    std::string output;
    if (FILE* pipe = popen(command.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
      int status = pclose(pipe);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ADD_FAILURE() << "botocore signer failed (needs Debian's python3-botocore/boto3):\n"
                      << output;
        output.clear();
      }
    }
    std::filesystem::remove_all(root);
    std::map<std::string, WireRequest> out;
    Json parsed = Json::parse(output, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) {
      ADD_FAILURE() << "unexpected signer output:\n" << output;
      return out;
    }
    for (const auto& [label, r] : parsed.items()) {
      WireRequest w;
      w.method = r["method"].get<std::string>();
      w.path = r["path"].get<std::string>();
      w.query = r["query"].get<std::string>();
      for (const auto& h : r["headers"]) {
        w.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
      }
      w.body = base64Decode(r["body_b64"].get<std::string>()).value_or("");
      out.emplace(label, std::move(w));
    }
    return out;
  }

  static const WireRequest& get(const std::string& label) {
    static const WireRequest kEmpty;
    if (signed_ == nullptr || !signed_->contains(label)) {
      ADD_FAILURE() << "no signed request " << label;
      return kEmpty;
    }
    return signed_->at(label);
  }

  static std::vector<std::string> labels() {
    std::vector<std::string> out;
    for (const Json& c : signingCases()) out.push_back(c["label"].get<std::string>());
    return out;
  }

  static std::optional<std::string> lookup(std::string_view id) {
    if (id == kAccessKeyId) return std::string(kSecret);
    return std::nullopt;
  }

  static Result<Identity> check(const WireRequest& r, TimePoint now = kSignTime) {
    return verify(r.view(), lookup, now);
  }

  static std::string* header(WireRequest& r, std::string_view lower_name) {
    for (auto& [name, value] : r.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == lower_name) return &value;
    }
    return nullptr;
  }

  static void expectRejected(const WireRequest& r, ErrorKind kind, const std::string& what,
                             std::string_view message_part = {}) {
    auto result = check(r);
    ASSERT_FALSE(result.ok()) << what << " was accepted";
    EXPECT_EQ(result.error().kind(), kind) << what << ": " << result.error().message();
    EXPECT_NE(result.error().message().find(message_part), std::string::npos)
        << what << ": " << result.error().message();
  }

  // Replaces one alphanumeric character (the last one found by `from_back`, else the first at or
  // after `start`) with a different alphanumeric character.
  static bool flipAlnum(std::string& s, std::size_t start, bool from_back) {
    auto flip = [&](std::size_t i) {
      s[i] = s[i] == 'x' ? 'y' : 'x';
      return true;
    };
    if (from_back) {
      for (std::size_t i = s.size(); i-- > start;) {
        if (std::isalnum(static_cast<unsigned char>(s[i]))) return flip(i);
      }
      return false;
    }
    for (std::size_t i = start; i < s.size(); ++i) {
      if (std::isalnum(static_cast<unsigned char>(s[i]))) return flip(i);
    }
    return false;
  }

  static inline std::map<std::string, WireRequest>* signed_ = nullptr;
};

TEST_F(SigV4Test, AcceptsEveryBotocoreSignedRequest) {
  for (const std::string& label : labels()) {
    auto result = check(get(label));
    ASSERT_TRUE(result.ok()) << label << ": " << result.error().message() << "\n"
                             << result.error().cause();
    EXPECT_EQ(result->access_key_id, kAccessKeyId);
    EXPECT_EQ(result->region, "us-east-1");
    EXPECT_TRUE(result->service == "iot" || result->service == "execute-api") << result->service;
  }
  EXPECT_EQ(check(get("get_query_iot"))->service, "iot");
  EXPECT_EQ(check(get("get_query_execute_api"))->service, "execute-api");
}

// sign() must produce exactly botocore's signature for the same request and signed headers.
TEST_F(SigV4Test, SignMatchesBotocore) {
  int compared = 0;
  for (const std::string& label : labels()) {
    WireRequest r = get(label);
    std::string* authorization = header(r, "authorization");
    std::string* amz_date = header(r, "x-amz-date");
    if (authorization == nullptr || amz_date == nullptr || header(r, "x-amz-content-sha256")) {
      continue;  // sign() always uses x-amz-date and hashes the body
    }
    auto auth = parseAuthorization(*authorization);
    ASSERT_TRUE(auth.ok()) << label;
    std::set<std::string> signed_names;
    std::stringstream names{std::string(auth->signed_headers)};
    for (std::string name; std::getline(names, name, ';');) signed_names.insert(name);
    Request to_sign = r.view();
    to_sign.headers.clear();
    for (const auto& [name, value] : r.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (signed_names.contains(lower)) to_sign.headers.emplace_back(name, value);
    }
    std::string mine = sign(to_sign, auth->access_key_id, kSecret, auth->region, auth->service,
                            *amz_date);
    EXPECT_EQ(mine, *authorization) << label;
    ++compared;
  }
  EXPECT_GE(compared, 5);
}

TEST_F(SigV4Test, WireFormsAreWhatTheTestMeansToCover) {
  // Guards the reference itself: if botocore stopped producing these forms the vectors above
  // would silently test less.
  EXPECT_NE(get("arn_path").path.find("%3A"), std::string::npos) << get("arn_path").path;
  EXPECT_NE(get("boto3_list_attached_policies").path.find("arn%3Aaws%3Aiot"), std::string::npos)
      << get("boto3_list_attached_policies").path;
  EXPECT_NE(get("get_query_iot").query.find("%C3%BC"), std::string::npos);
  EXPECT_NE(get("get_query_iot").query.find('~'), std::string::npos);
  EXPECT_NE(get("get_query_iot").query.find("%20%20"), std::string::npos);
  EXPECT_EQ(get("dot_segments").path, "/things/./old/../thing-1//principals/");
  WireRequest date = get("date_header");
  EXPECT_EQ(header(date, "x-amz-date"), nullptr);
  ASSERT_NE(header(date, "date"), nullptr);
  EXPECT_EQ(*header(date, "date"), "Tue, 05 Mar 2024 12:34:56 -0000");
}

TEST_F(SigV4Test, RejectsAnyTamperedPart) {
  for (const std::string& label : labels()) {
    const WireRequest& original = get(label);
    SCOPED_TRACE(label);

    if (!original.body.empty() && label != "unsigned_payload") {
      WireRequest r = original;
      r.body[r.body.size() / 2] ^= 0x01;
      expectRejected(r, ErrorKind::kInvalidSignature, "body flip");
    }
    {
      WireRequest r = original;
      ASSERT_TRUE(flipAlnum(r.path, 0, /*from_back=*/true));
      expectRejected(r, ErrorKind::kInvalidSignature, "path flip " + r.path);
    }
    if (std::size_t eq = original.query.find('='); eq != std::string::npos) {
      WireRequest r = original;
      if (flipAlnum(r.query, eq + 1, /*from_back=*/false)) {
        expectRejected(r, ErrorKind::kInvalidSignature, "query flip " + r.query);
      }
    }
    {
      WireRequest r = original;
      std::string* host = header(r, "host");
      ASSERT_NE(host, nullptr);
      ASSERT_TRUE(flipAlnum(*host, 0, /*from_back=*/true));
      expectRejected(r, ErrorKind::kInvalidSignature, "host flip");
    }
    {
      WireRequest r = original;
      std::string* authorization = header(r, "authorization");
      ASSERT_NE(authorization, nullptr);
      std::size_t at = authorization->find("Signature=") + 10 + 17;
      char& c = (*authorization)[at];
      c = c == '0' ? '1' : '0';
      expectRejected(r, ErrorKind::kInvalidSignature, "signature flip", "does not match");
    }
    {
      WireRequest r = original;
      r.method = r.method == "GET" ? "DELETE" : "GET";
      expectRejected(r, ErrorKind::kInvalidSignature, "method change");
    }
  }
}

TEST_F(SigV4Test, SignedHeaderValuesAreTrimmedAndJoined) {
  WireRequest r = get("header_values");
  // Received in another case, with unsigned headers added: still the same signature.
  for (auto& [name, value] : r.headers) {
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  r.headers.emplace_back("User-Agent", "curl/8");
  r.headers.emplace_back("X-Unsigned", "anything");
  EXPECT_TRUE(check(r).ok());
  // Whitespace runs inside a value are equivalent; other bytes are not.
  *header(r, "x-custom") = "a b c";
  EXPECT_TRUE(check(r).ok());
  *header(r, "x-custom") = "a bc";
  expectRejected(r, ErrorKind::kInvalidSignature, "x-custom changed");
  // The order of repeated headers is signed.
  r = get("header_values");
  std::vector<std::pair<std::string, std::string>> reordered;
  for (auto& h : r.headers) {
    if (h.first == "X-Multi") reordered.insert(reordered.begin(), h);
  }
  std::erase_if(r.headers, [](const auto& h) { return h.first == "X-Multi"; });
  r.headers.insert(r.headers.end(), reordered.begin(), reordered.end());
  expectRejected(r, ErrorKind::kInvalidSignature, "x-multi reordered");
  // A signed header that is missing.
  r = get("header_values");
  std::erase_if(r.headers, [](const auto& h) { return h.first == "X-Custom"; });
  expectRejected(r, ErrorKind::kInvalidSignature, "x-custom removed");
}

TEST_F(SigV4Test, PayloadHashHeader) {
  WireRequest r = get("content_sha");
  r.body += " ";
  expectRejected(r, ErrorKind::kInvalidSignature, "body vs x-amz-content-sha256",
                 "x-amz-content-sha256");
  // UNSIGNED-PAYLOAD leaves the body out of the signature (TLS protects it in transit).
  r = get("unsigned_payload");
  r.body = "anything else";
  EXPECT_TRUE(check(r).ok());
}

TEST_F(SigV4Test, ClockSkewWindow) {
  for (const char* label : {"get_query_iot", "date_header"}) {
    SCOPED_TRACE(label);
    const WireRequest& r = get(label);
    EXPECT_TRUE(check(r, kSignTime + 15min).ok());
    EXPECT_TRUE(check(r, kSignTime - 15min).ok());
    EXPECT_TRUE(check(r, kSignTime + 15min + 999ms).ok());

    auto late = check(r, kSignTime + 15min + 1s);
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().kind(), ErrorKind::kInvalidSignature);
    EXPECT_EQ(late.error().message(),
              "Signature expired: 20240305T123456Z is now earlier than 20240305T123457Z "
              "(20240305T124957Z - 15 min.)");

    auto early = check(r, kSignTime - 15min - 1s);
    ASSERT_FALSE(early.ok());
    EXPECT_EQ(early.error().kind(), ErrorKind::kInvalidSignature);
    EXPECT_EQ(early.error().message(),
              "Signature not yet current: 20240305T123456Z is still later than 20240305T123455Z "
              "(20240305T121955Z + 15 min.)");

    auto far = check(r, kSignTime + 24h * 365);
    ASSERT_FALSE(far.ok());
    EXPECT_EQ(far.error().kind(), ErrorKind::kInvalidSignature);
  }
}

TEST_F(SigV4Test, UnknownAccessKey) {
  const WireRequest& r = get("post_json");
  auto result = verify(
      r.view(), [](std::string_view) { return std::optional<std::string>(); }, kSignTime);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kUnrecognizedClient);
  EXPECT_EQ(result.error().message(), "The security token included in the request is invalid.");
  // A known key with another secret is a signature mismatch, not an unknown client.
  result = verify(
      r.view(), [](std::string_view) { return std::optional<std::string>("other"); }, kSignTime);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalidSignature);
}

TEST_F(SigV4Test, MissingAuthorization) {
  WireRequest r = get("post_json");
  std::erase_if(r.headers, [](const auto& h) { return h.first == "Authorization"; });
  auto result = check(r);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kMissingAuthenticationToken);
  EXPECT_EQ(result.error().message(), "Missing Authentication Token");
}

TEST_F(SigV4Test, GarbageAuthorizationIsIncomplete) {
  const WireRequest& original = get("get_query_iot");
  WireRequest copy = original;
  const std::string good = *header(copy, "authorization");
  const std::string sig(64, 'a');
  const std::string scope = "AKIDFLEETGATEEXAMPLE/20240305/us-east-1/iot/aws4_request";
  const std::vector<std::string> garbage = {
      "",
      "Bearer abc",
      "AWS abc:def",
      "AWS4-HMAC-SHA256",
      "AWS4-HMAC-SHA256 ",
      "AWS4-ECDSA-P256-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig,
      "AWS4-HMAC-SHA256Credential=" + scope + ", SignedHeaders=host, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host",
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=",
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig + "a",
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig.substr(1),
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig.substr(1) +
          "g",
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig + ",",
      "AWS4-HMAC-SHA256 Credential=" + scope + ", Credential=" + scope +
          ", SignedHeaders=host, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig +
          ", Foo=bar",
      "AWS4-HMAC-SHA256 Credential=AKIDFLEETGATEEXAMPLE/20240305/us-east-1/iot, "
      "SignedHeaders=host, Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=AKIDFLEETGATEEXAMPLE/20240305/us-east-1/iot/aws4_request/x, "
      "SignedHeaders=host, Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=AKID/2024030/us-east-1/iot/aws4_request, SignedHeaders=host, "
      "Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=AK ID/20240305/us-east-1/iot/aws4_request, "
      "SignedHeaders=host, Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=/20240305/us-east-1/iot/aws4_request, SignedHeaders=host, "
      "Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=AKID/20240305/US-EAST-1/iot/aws4_request, "
      "SignedHeaders=host, Signature=" +
          sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=x-amz-date;host, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host;host, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=Host;x-amz-date, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host;;x-amz-date, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=;, Signature=" + sig,
      // Syntactically fine but host is not signed.
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=x-amz-date, Signature=" + sig,
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig +
          std::string(10000, ' '),
      "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=" + std::string(300, 'a') +
          ";host, Signature=" + sig,
      std::string(100000, ','),
  };
  for (const std::string& value : garbage) {
    WireRequest r = original;
    *header(r, "authorization") = value;
    expectRejected(r, ErrorKind::kIncompleteSignature, value.substr(0, 200));
  }
  std::string many_headers;
  for (int i = 0; i < 200; ++i) many_headers += "h" + std::to_string(1000 + i) + ";";
  WireRequest r = original;
  *header(r, "authorization") = "AWS4-HMAC-SHA256 Credential=" + scope +
                                ", SignedHeaders=" + many_headers + "host, Signature=" + sig;
  expectRejected(r, ErrorKind::kIncompleteSignature, "too many signed headers");

  // Two Authorization headers.
  r = original;
  r.headers.emplace_back("authorization", good);
  expectRejected(r, ErrorKind::kIncompleteSignature, "two Authorization headers");
  // No date at all, or an unparsable one.
  r = original;
  std::erase_if(r.headers, [](const auto& h) { return h.first == "X-Amz-Date"; });
  expectRejected(r, ErrorKind::kIncompleteSignature, "no date", "X-Amz-Date");
  for (const char* bad_date : {"2024-03-05T12:34:56Z", "20240305T123456", "20241305T123456Z",
                               "20240230T123456Z", "20240305T246000Z", "", "x"}) {
    r = original;
    *header(r, "x-amz-date") = bad_date;
    expectRejected(r, ErrorKind::kIncompleteSignature, std::string("date ") + bad_date);
  }
  r = original;
  r.headers.emplace_back("X-Amz-Date", std::string(kTimestamp));
  expectRejected(r, ErrorKind::kIncompleteSignature, "two X-Amz-Date headers");
}

TEST_F(SigV4Test, ScopeChecks) {
  const WireRequest& original = get("get_query_iot");
  auto with_scope = [&](const std::string& from, const std::string& to) {
    WireRequest r = original;
    std::string& authorization = *header(r, "authorization");
    authorization.replace(authorization.find(from), from.size(), to);
    return r;
  };
  expectRejected(with_scope("/iot/", "/s3/"), ErrorKind::kInvalidSignature, "service s3",
                 "correct service");
  expectRejected(with_scope("/iot/", "/iotdata/"), ErrorKind::kInvalidSignature, "service iotdata",
                 "correct service");
  expectRejected(with_scope("aws4_request", "aws5_request"), ErrorKind::kInvalidSignature,
                 "terminator", "terminator");
  expectRejected(with_scope("/20240305/", "/20240304/"), ErrorKind::kInvalidSignature, "date",
                 "Credential scope");
  // A different region is a different signing key.
  expectRejected(with_scope("/us-east-1/", "/eu-west-1/"), ErrorKind::kInvalidSignature, "region",
                 "does not match");
}

TEST(SigV4CanonicalTest, Uri) {
  EXPECT_EQ(canonicalUri(""), "/");
  EXPECT_EQ(canonicalUri("/"), "/");
  EXPECT_EQ(canonicalUri("/attached-policies/arn%3Aaws%3Aiot%3Acert%2Fabc"),
            "/attached-policies/arn%253Aaws%253Aiot%253Acert%252Fabc");
  EXPECT_EQ(canonicalUri("/a/./b/../c//d/"), "/a/c/d/");
  EXPECT_EQ(canonicalUri("/../.."), "/");
  EXPECT_EQ(canonicalUri("/a/%2E%2E/b"), "/a/%252E%252E/b");
  EXPECT_EQ(canonicalUri("/a b~$"), "/a%20b~%24");
}

TEST(SigV4CanonicalTest, Query) {
  EXPECT_EQ(canonicalQuery(""), "");
  EXPECT_EQ(canonicalQuery("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(canonicalQuery("flag&x="), "flag=&x=");
  EXPECT_EQ(canonicalQuery("k=a%20b+c%7e%2f"), "k=a%20b%2Bc~%2F");
  EXPECT_EQ(canonicalQuery("a-b=1&a%2Fb=2"), "a%2Fb=2&a-b=1");
  EXPECT_EQ(canonicalQuery("&&a=1&"), "a=1");
  EXPECT_EQ(canonicalQuery("a=%zz"), std::nullopt);
  EXPECT_EQ(canonicalQuery("a=%4"), std::nullopt);
}

}  // namespace
}  // namespace fleetgate::sigv4
