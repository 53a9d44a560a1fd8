#include "policy/evaluator.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace fleetgate::policy {
namespace {

using Token = CompiledPolicy::Token;
using Pattern = CompiledPolicy::Pattern;

constexpr std::array<std::string_view, kActionCount> kActionNames = {
    "iot:Connect",
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
    "iot:GetRetainedMessage",
    "iot:ListRetainedMessages",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
    "iot:ListNamedShadowsForThing",
    "iot:DescribeJobExecution",
    "iot:GetPendingJobExecutions",
    "iot:UpdateJobExecution",
    "iot:StartNextPendingJobExecution",
    "iot:AssumeRoleWithCertificate",
};

constexpr std::array<std::string_view, 5> kResourceKindNames = {"client", "topic", "topicfilter",
                                                                "thing", "rolealias"};

// §8.4 subject/issuer attribute names with the OpenSSL short name of each.
struct AttributeName {
  std::string_view x509;
  std::string_view iot;
};
constexpr std::array<AttributeName, 13> kAttributeNames = {{
    {"dnQualifier", "DistinguishedNameQualifier"},
    {"C", "Country"},
    {"O", "Organization"},
    {"OU", "OrganizationalUnit"},
    {"ST", "State"},
    {"CN", "CommonName"},
    {"serialNumber", "SerialNumber"},
    {"title", "Title"},
    {"SN", "Surname"},
    {"GN", "GivenName"},
    {"initials", "Initials"},
    {"pseudonym", "Pseudonym"},
    {"generationQualifier", "GenerationQualifier"},
}};
constexpr std::array<std::string_view, 5> kAltNames = {kAltRfc822Name, kAltDnsName,
                                                       kAltDirectoryName, kAltUri, kAltIpAddress};

// Values containing one of these are never substituted: they would turn into a glob (or an MQTT
// wildcard in a topicfilter resource) and widen the grant (spec §8.4 security note).
constexpr std::string_view kNonSubstitutable = "*$+?#";
// RFC 4514-style characters AWS backslash-escapes in substituted certificate values.
constexpr std::string_view kEscaped = ",\"\\+=<>;";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

// Removes prefix from s (ASCII case-insensitively: IAM key names are case-insensitive).
bool consumePrefix(std::string_view& s, std::string_view prefix) {
  if (s.size() < prefix.size() || !equalsIgnoreCase(s.substr(0, prefix.size()), prefix)) {
    return false;
  }
  s.remove_prefix(prefix.size());
  return true;
}

bool isUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

// Tokens of a policy string with no variable processing: '*' and '?' are wildcards.
void appendGlob(std::vector<Token>& tokens, std::string_view text) {
  for (char c : text) {
    if (c == '*') {
      tokens.push_back({Token::Kind::kAnySequence, {}});
    } else if (c == '?') {
      tokens.push_back({Token::Kind::kAnyChar, {}});
    } else if (!tokens.empty() && tokens.back().kind == Token::Kind::kLiteral) {
      tokens.back().text.push_back(c);
    } else {
      tokens.push_back({Token::Kind::kLiteral, std::string(1, c)});
    }
  }
}

void appendLiteral(std::vector<Token>& tokens, std::string_view text) {
  if (text.empty()) return;
  if (!tokens.empty() && tokens.back().kind == Token::Kind::kLiteral) {
    tokens.back().text.append(text);
  } else {
    tokens.push_back({Token::Kind::kLiteral, std::string(text)});
  }
}

// What a condition key or policy variable name resolves to for one connection.
struct KeyValues {
  bool known = false;        // a key fleetgate understands
  bool present = false;      // the connection has a value for it
  bool certificate = false;  // from the certificate: substituted values are escaped
  bool multi = false;        // a set (.List, ConnectAttributes): never substituted into text
  std::vector<std::string> values;
};

struct Environment {
  const ConnectionContext& context;
  std::string_view region;
  std::string_view account;
};

KeyValues single(std::optional<std::string> value) {
  KeyValues result;
  result.known = true;
  if (value) {
    result.present = true;
    result.values.push_back(std::move(*value));
  }
  return result;
}

// "<Name>", "<Name>.<N>" or "<Name>.List" of a multi-valued certificate attribute.
KeyValues resolveAttribute(std::string_view rest, const CertificateAttributes& attributes,
                           const std::string_view* names, std::size_t name_count) {
  KeyValues result;
  std::string_view name = rest.substr(0, rest.find('.'));
  std::string_view suffix =
      name.size() < rest.size() ? rest.substr(name.size() + 1) : std::string_view();
  const std::string_view* canonical = std::find_if(
      names, names + name_count, [&](std::string_view n) { return equalsIgnoreCase(n, name); });
  if (canonical == names + name_count) return result;
  bool list = false;
  std::size_t index = 0;
  if (name.size() < rest.size()) {
    if (equalsIgnoreCase(suffix, "List")) {
      list = true;
    } else {
      auto [end, ec] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), index);
      if (ec != std::errc() || end != suffix.data() + suffix.size() || suffix.empty()) {
        return result;
      }
    }
  }
  result.known = true;
  result.certificate = true;
  result.multi = list;
  auto found = attributes.find(*canonical);
  if (found == attributes.end()) return result;
  const std::vector<std::string>& values = found->second;
  std::size_t count = std::min(values.size(), kMaxAttributeValues);
  if (list) {
    result.values.assign(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(count));
    result.present = count > 0;
  } else if (index < count) {
    // AWS's own example: ".1" is the second value, so the suffix is a zero-based index.
    result.values.push_back(values[index]);
    result.present = true;
  }
  return result;
}

std::vector<std::string> availableKeys(const ConnectionContext& context) {
  std::vector<std::string> keys;
  auto add = [&](std::string_view prefix, const CertificateAttributes& attributes) {
    for (const auto& [name, values] : attributes) {
      if (!values.empty()) keys.push_back(std::string(prefix) + name);
    }
  };
  add("iot:Certificate.Subject.", context.subject);
  add("iot:Certificate.Issuer.", context.issuer);
  add("iot:Certificate.Subject.AlternativeName.", context.subject_alt_names);
  add("iot:Certificate.Issuer.AlternativeName.", context.issuer_alt_names);
  if (!context.certificate_serial.empty()) keys.emplace_back("iot:Certificate.SerialNumber");
  return keys;
}

KeyValues resolveCertificate(std::string_view rest, const ConnectionContext& context) {
  if (equalsIgnoreCase(rest, "SerialNumber")) {
    return single(context.certificate_serial.empty()
                      ? std::nullopt
                      : std::optional<std::string>(context.certificate_serial));
  }
  if (equalsIgnoreCase(rest, "AvailableKeys")) {
    KeyValues result;
    result.known = true;
    result.multi = true;
    result.values = availableKeys(context);
    result.present = !result.values.empty();
    return result;
  }
  std::array<std::string_view, kAttributeNames.size()> names;
  std::transform(kAttributeNames.begin(), kAttributeNames.end(), names.begin(),
                 [](const AttributeName& a) { return a.iot; });
  bool subject = consumePrefix(rest, "Subject.");
  if (!subject && !consumePrefix(rest, "Issuer.")) return {};
  if (consumePrefix(rest, "AlternativeName.")) {
    return resolveAttribute(rest, subject ? context.subject_alt_names : context.issuer_alt_names,
                            kAltNames.data(), kAltNames.size());
  }
  return resolveAttribute(rest, subject ? context.subject : context.issuer, names.data(),
                          names.size());
}

KeyValues resolveThing(std::string_view rest, const ConnectionContext& context) {
  const std::optional<ThingContext>& thing = context.thing;
  if (equalsIgnoreCase(rest, "ThingName")) {
    return single(thing ? std::optional<std::string>(thing->name) : std::nullopt);
  }
  if (equalsIgnoreCase(rest, "ThingTypeName")) {
    return single(thing && !thing->type_name.empty() ? std::optional<std::string>(thing->type_name)
                                                     : std::nullopt);
  }
  if (equalsIgnoreCase(rest, "IsAttached")) {
    return single(std::string(thing && thing->is_attached ? "true" : "false"));
  }
  if (consumePrefix(rest, "Attributes[") && !rest.empty() && rest.back() == ']') {
    // Attribute names are case-sensitive, as the registry stores them.
    std::string_view name = rest.substr(0, rest.size() - 1);
    if (name.empty()) return {};
    if (!thing) return single(std::nullopt);
    auto found = thing->attributes.find(name);
    return single(found == thing->attributes.end() ? std::nullopt
                                                   : std::optional<std::string>(found->second));
  }
  return {};
}

KeyValues resolveKey(std::string_view key, const Environment& env) {
  const ConnectionContext& context = env.context;
  std::string_view rest = key;
  if (equalsIgnoreCase(key, "iot:ClientId")) return single(context.client_id);
  if (equalsIgnoreCase(key, "aws:SourceIp")) {
    return single(context.source_ip.empty() ? std::nullopt
                                            : std::optional<std::string>(context.source_ip));
  }
  if (equalsIgnoreCase(key, "iot:ConnectAttributes")) {
    KeyValues result;
    result.known = true;
    result.present = true;  // a set, possibly empty
    result.multi = true;
    if (context.persistent_connect) result.values.emplace_back("PersistentConnect");
    if (context.last_will_topic) result.values.emplace_back("LastWill");
    return result;
  }
  if (equalsIgnoreCase(key, "iot:LastWillTopic")) {
    // Compared against topic ARNs (spec §8.4), so the value is the will topic's ARN.
    return single(context.last_will_topic ? std::optional<std::string>(topicArn(
                                                env.region, env.account, *context.last_will_topic))
                                          : std::nullopt);
  }
  if (consumePrefix(rest, "iot:Connection.Thing.")) return resolveThing(rest, context);
  if (consumePrefix(rest, "iot:Certificate.")) return resolveCertificate(rest, context);
  return {};
}

// Expands a policy string of a 2012-10-17 document: ${variable} becomes its literal value, ${*}
// ${?} ${$} become literal characters, and everything else keeps IAM glob meaning. A variable
// that cannot be substituted stays as literal "${...}" text and sets *unresolved.
std::vector<Token> expand(std::string_view text, const Environment& env, bool substitute,
                          bool* unresolved) {
  std::vector<Token> tokens;
  if (!substitute) {
    appendGlob(tokens, text);
    return tokens;
  }
  while (!text.empty()) {
    std::size_t open = text.find("${");
    std::size_t close = open == std::string_view::npos ? open : text.find('}', open + 2);
    if (close == std::string_view::npos) {
      appendGlob(tokens, text);
      break;
    }
    appendGlob(tokens, text.substr(0, open));
    std::string_view name = text.substr(open + 2, close - open - 2);
    std::string_view whole = text.substr(open, close - open + 1);
    text.remove_prefix(close + 1);
    if (name == "*" || name == "?" || name == "$") {
      appendLiteral(tokens, name);
      continue;
    }
    KeyValues value = resolveKey(name, env);
    bool ok = value.known && value.present && !value.multi && value.values.size() == 1 &&
              value.values[0].size() <= kMaxSubstitutedLength &&
              value.values[0].find_first_of(kNonSubstitutable) == std::string::npos;
    if (!ok) {
      appendLiteral(tokens, whole);
      if (unresolved) *unresolved = true;
      continue;
    }
    if (!value.certificate) {
      appendLiteral(tokens, value.values[0]);
      continue;
    }
    std::string escaped;
    for (char c : value.values[0]) {
      if (kEscaped.find(c) != std::string_view::npos) escaped.push_back('\\');
      escaped.push_back(c);
    }
    appendLiteral(tokens, escaped);
  }
  return tokens;
}

// The exact string a token list stands for, wildcards as their characters (for *Equals).
std::string flatten(const std::vector<Token>& tokens) {
  std::string out;
  for (const Token& token : tokens) {
    switch (token.kind) {
      case Token::Kind::kLiteral:
        out += token.text;
        break;
      case Token::Kind::kAnySequence:
        out += '*';
        break;
      case Token::Kind::kAnyChar:
        out += '?';
        break;
    }
  }
  return out;
}

// An IPv4 or IPv6 address, IPv4-mapped IPv6 folded to IPv4 so either spelling matches.
struct IpAddress {
  int family = 0;  // 4 or 6
  std::array<unsigned char, 16> bytes{};
};

std::optional<IpAddress> parseIp(std::string_view text) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buffer, ip.bytes.data()) == 1) {
    ip.family = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, buffer, ip.bytes.data()) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, sizeof(kMapped)) == 0) {
    std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
    std::fill(ip.bytes.begin() + 4, ip.bytes.end(), static_cast<unsigned char>(0));
    ip.family = 4;
    return ip;
  }
  ip.family = 6;
  return ip;
}

// "a.b.c.d/n", "x::y/n", or a bare address (a host route).
bool cidrContains(std::string_view cidr, const IpAddress& address) {
  std::size_t slash = cidr.find('/');
  std::optional<IpAddress> network = parseIp(cidr.substr(0, slash));
  if (!network || network->family != address.family) return false;
  int max_bits = network->family == 4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view length = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), bits);
    if (length.empty() || ec != std::errc() || end != length.data() + length.size() || bits < 0 ||
        bits > max_bits) {
      return false;
    }
  }
  for (int i = 0; i < bits; ++i) {
    std::size_t byte = static_cast<std::size_t>(i / 8);
    unsigned mask = 0x80u >> (i % 8);
    if ((network->bytes[byte] & mask) != (address.bytes[byte] & mask)) return false;
  }
  return true;
}

std::optional<double> parseNumber(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool isNegated(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kStringNotEquals:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
    case ConditionOperator::kStringNotLike:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kNotIpAddress:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
      return true;
    default:
      return false;
  }
}

// Whether one context value matches one policy value under the positive form of op.
bool matchesOne(ConditionOperator op, std::string_view context_value,
                const std::vector<Token>& policy_value) {
  switch (op) {
    case ConditionOperator::kStringEquals:
    case ConditionOperator::kStringNotEquals:
      return flatten(policy_value) == context_value;
    case ConditionOperator::kStringEqualsIgnoreCase:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
      return equalsIgnoreCase(flatten(policy_value), context_value);
    case ConditionOperator::kStringLike:
    case ConditionOperator::kStringNotLike:
    // IAM's ArnEquals and ArnLike both accept wildcards; the ARN is compared as one string.
    case ConditionOperator::kArnEquals:
    case ConditionOperator::kArnLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
      return Pattern(policy_value).matches(context_value);
    case ConditionOperator::kBool: {
      std::string expected = flatten(policy_value);
      return (equalsIgnoreCase(expected, "true") || equalsIgnoreCase(expected, "false")) &&
             equalsIgnoreCase(expected, context_value);
    }
    case ConditionOperator::kIpAddress:
    case ConditionOperator::kNotIpAddress: {
      std::optional<IpAddress> address = parseIp(context_value);
      return address && cidrContains(flatten(policy_value), *address);
    }
    case ConditionOperator::kNumericEquals:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kNumericLessThan:
    case ConditionOperator::kNumericLessThanEquals:
    case ConditionOperator::kNumericGreaterThan:
    case ConditionOperator::kNumericGreaterThanEquals: {
      std::optional<double> actual = parseNumber(context_value);
      std::optional<double> limit = parseNumber(flatten(policy_value));
      if (!actual || !limit) return false;
      switch (op) {
        case ConditionOperator::kNumericLessThan:
          return *actual < *limit;
        case ConditionOperator::kNumericLessThanEquals:
          return *actual <= *limit;
        case ConditionOperator::kNumericGreaterThan:
          return *actual > *limit;
        case ConditionOperator::kNumericGreaterThanEquals:
          return *actual >= *limit;
        default:
          return *actual == *limit;
      }
    }
    default:
      return false;
  }
}

bool isSupported(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kDateEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kDateLessThan:
    case ConditionOperator::kDateLessThanEquals:
    case ConditionOperator::kDateGreaterThan:
    case ConditionOperator::kDateGreaterThanEquals:
    case ConditionOperator::kBinaryEquals:
      return false;
    default:
      return true;
  }
}

// Every key fleetgate knows is fixed for the life of a connection, so conditions are decided
// once here rather than on every check.
bool conditionHolds(const Condition& condition, const Environment& env, bool substitute,
                    bool deny_statement) {
  // No connection key is a date or binary blob; rather than guess, fail closed: an Allow does
  // not apply, a Deny does.
  if (!isSupported(condition.base)) return deny_statement;
  KeyValues key = resolveKey(condition.key, env);
  if (!key.known) return condition.if_exists;
  bool absent = !key.present;
  if (condition.base == ConditionOperator::kNull) {
    std::string_view expected =
        condition.values.empty() ? std::string_view() : std::string_view(condition.values[0]);
    if (equalsIgnoreCase(expected, "true")) return absent;
    if (equalsIgnoreCase(expected, "false")) return !absent;
    return false;
  }
  if (absent && condition.if_exists) return true;

  std::vector<std::vector<Token>> policy_values;
  policy_values.reserve(condition.values.size());
  for (const std::string& value : condition.values) {
    policy_values.push_back(expand(value, env, substitute, nullptr));
  }
  bool negated = isNegated(condition.base);
  auto result = [&](std::string_view context_value) {
    bool any = std::any_of(policy_values.begin(), policy_values.end(),
                           [&](const std::vector<Token>& policy_value) {
                             return matchesOne(condition.base, context_value, policy_value);
                           });
    return negated ? !any : any;
  };
  const std::vector<std::string>& values = key.values;  // empty when absent
  switch (condition.qualifier) {
    case SetQualifier::kForAllValues:
      // IAM: vacuously true for an empty or missing set.
      return std::all_of(values.begin(), values.end(), result);
    case SetQualifier::kForAnyValue:
      return std::any_of(values.begin(), values.end(), result);
    case SetQualifier::kNone:
      break;
  }
  // IAM: an absent key fails a positive operator and satisfies a negated one.
  if (values.empty()) return negated;
  if (negated) return std::all_of(values.begin(), values.end(), result);
  return std::any_of(values.begin(), values.end(), result);
}

std::uint32_t actionMask(const Statement& statement) {
  std::uint32_t mask = 0;
  for (const std::string& action : statement.actions) {
    std::vector<Token> tokens;
    appendGlob(tokens, action);
    Pattern pattern(std::move(tokens), /*ignore_case=*/true);
    for (std::size_t i = 0; i < kActionCount; ++i) {
      if (pattern.matches(kActionNames[i])) mask |= 1u << i;
    }
  }
  constexpr std::uint32_t kAll = (1u << kActionCount) - 1;
  return statement.not_action ? (~mask & kAll) : mask;
}

}  // namespace

std::string_view actionName(Action action) {
  std::size_t index = static_cast<std::size_t>(action);
  return index < kActionCount ? kActionNames[index] : std::string_view();
}

std::string resourceArnPrefix(ResourceKind kind, std::string_view region,
                              std::string_view account) {
  std::string arn = "arn:aws:iot:";
  arn.append(region).append(":").append(account).append(":");
  arn.append(kResourceKindNames[static_cast<std::size_t>(kind)]).append("/");
  return arn;
}

std::string resourceArn(ResourceKind kind, std::string_view region, std::string_view account,
                        std::string_view name) {
  return resourceArnPrefix(kind, region, account).append(name);
}

std::string thingArn(std::string_view region, std::string_view account, std::string_view thing,
                     std::string_view shadow_name) {
  std::string arn = resourceArn(ResourceKind::kThing, region, account, thing);
  if (!shadow_name.empty()) arn.append("/").append(shadow_name);
  return arn;
}

std::optional<std::string_view> certificateAttributeName(std::string_view x509_short_name) {
  for (const AttributeName& name : kAttributeNames) {
    if (name.x509 == x509_short_name) return name.iot;
  }
  return std::nullopt;
}

bool addCertificateAttribute(CertificateAttributes& attributes, std::string_view x509_short_name,
                             std::string value) {
  std::optional<std::string_view> name = certificateAttributeName(x509_short_name);
  if (!name) return false;
  auto found = attributes.find(*name);
  if (found == attributes.end()) {
    found = attributes.emplace(std::string(*name), std::vector<std::string>()).first;
  }
  found->second.push_back(std::move(value));
  return true;
}

CompiledPolicy::Pattern::Pattern(std::vector<Token> tokens, bool ignore_case)
    : ignore_case_(ignore_case) {
  match_all_ = !tokens.empty();
  for (const Token& token : tokens) {
    if (token.kind == Token::Kind::kLiteral) {
      chars_.append(token.text);
      kinds_.insert(kinds_.end(), token.text.size(), Token::Kind::kLiteral);
      if (!token.text.empty()) match_all_ = false;
    } else {
      chars_.push_back(token.kind == Token::Kind::kAnySequence ? '*' : '?');
      kinds_.push_back(token.kind);
      is_literal_ = false;
      if (token.kind == Token::Kind::kAnyChar) match_all_ = false;
    }
  }
  if (ignore_case_) {
    std::transform(chars_.begin(), chars_.end(), chars_.begin(), lower);
  }
}

bool CompiledPolicy::Pattern::matches(std::string_view head, std::string_view tail) const {
  if (match_all_) return true;
  const std::size_t n = head.size() + tail.size();
  auto at = [&](std::size_t i) {
    char c = i < head.size() ? head[i] : tail[i - head.size()];
    return ignore_case_ ? lower(c) : c;
  };
  if (is_literal_) {
    if (n != chars_.size()) return false;
    for (std::size_t i = 0; i < n; ++i) {
      if (at(i) != chars_[i]) return false;
    }
    return true;
  }
  // '?' is one character, not one byte: it and '*' backtracking step over whole UTF-8 sequences.
  auto next = [&](std::size_t i) {
    ++i;
    while (i < n && isUtf8Continuation(at(i))) ++i;
    return i;
  };
  const std::size_t m = chars_.size();
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t p = 0, s = 0, star_p = kNone, star_s = 0;
  // Greedy match with backtracking to the last '*' only: enough for globs, O(n * m) worst case.
  while (s < n) {
    if (p < m && kinds_[p] == Token::Kind::kAnyChar) {
      ++p;
      s = next(s);
    } else if (p < m && kinds_[p] == Token::Kind::kLiteral && chars_[p] == at(s)) {
      ++p;
      ++s;
    } else if (p < m && kinds_[p] == Token::Kind::kAnySequence) {
      star_p = p++;
      star_s = s;
    } else if (star_p != kNone) {
      p = star_p + 1;
      star_s = next(star_s);
      s = star_s;
    } else {
      return false;
    }
  }
  while (p < m && kinds_[p] == Token::Kind::kAnySequence) ++p;
  return p == m;
}

CompiledPolicy CompiledPolicy::compile(const std::vector<Document>& documents,
                                       const ConnectionContext& context, std::string_view region,
                                       std::string_view account) {
  CompiledPolicy compiled;
  for (std::size_t kind = 0; kind < compiled.prefixes_.size(); ++kind) {
    compiled.prefixes_[kind] = resourceArnPrefix(static_cast<ResourceKind>(kind), region, account);
  }
  Environment env{context, region, account};
  for (const Document& document : documents) {
    bool substitute = document.substitutesVariables();
    for (const Statement& statement : document.statements) {
      bool deny = statement.effect == Effect::kDeny;
      std::uint32_t mask = actionMask(statement);
      if (mask == 0) continue;
      bool conditions_hold =
          std::all_of(statement.conditions.begin(), statement.conditions.end(),
                      [&](const Condition& c) { return conditionHolds(c, env, substitute, deny); });
      if (!conditions_hold) continue;

      CompiledStatement out;
      out.deny = deny;
      out.not_resource = statement.not_resource;
      bool drop = false;
      for (const std::string& resource : statement.resources) {
        bool unresolved = false;
        std::vector<Token> tokens = expand(resource, env, substitute, &unresolved);
        if (unresolved && !deny) {
          // AWS keeps the literal "${...}", which only a topic literally named so would match.
          // An Allow never grants on an unresolved variable: the pattern is dropped, and an
          // Allow+NotResource (whose exceptions are then unknown) is dropped whole. A Deny keeps
          // the literal text, as AWS does.
          if (statement.not_resource) drop = true;
          continue;
        }
        out.resources.emplace_back(std::move(tokens));
      }
      if (drop || (!statement.not_resource && out.resources.empty())) continue;

      auto index = static_cast<std::uint32_t>(compiled.statements_.size());
      compiled.statements_.push_back(std::move(out));
      for (std::size_t a = 0; a < kActionCount; ++a) {
        if ((mask & (1u << a)) == 0) continue;
        (deny ? compiled.deny_ : compiled.allow_)[a].push_back(index);
      }
    }
  }
  return compiled;
}

bool CompiledPolicy::matchesAny(const std::vector<std::uint32_t>& indices, std::string_view head,
                                std::string_view tail) const {
  for (std::uint32_t index : indices) {
    const CompiledStatement& statement = statements_[index];
    bool any = std::any_of(statement.resources.begin(), statement.resources.end(),
                           [&](const Pattern& pattern) { return pattern.matches(head, tail); });
    if (any != statement.not_resource) return true;
  }
  return false;
}

Decision CompiledPolicy::decide(Action action, std::string_view head, std::string_view tail) const {
  std::size_t a = static_cast<std::size_t>(action);
  if (a >= kActionCount) return Decision::kImplicitDeny;
  if (matchesAny(deny_[a], head, tail)) return Decision::kExplicitDeny;
  if (matchesAny(allow_[a], head, tail)) return Decision::kAllow;
  return Decision::kImplicitDeny;
}

Decision CompiledPolicy::check(Action action, std::string_view resource_arn) const {
  return decide(action, resource_arn, {});
}

Decision CompiledPolicy::check(Action action, ResourceKind kind, std::string_view name) const {
  std::size_t k = static_cast<std::size_t>(kind);
  if (k >= prefixes_.size()) return Decision::kImplicitDeny;
  return decide(action, prefixes_[k], name);
}

}  // namespace fleetgate::policy
