#include "rules/actions.h"

#include <fmt/format.h>

#include <charconv>
#include <set>

#include "mqtt/topic.h"

namespace fleetgate::rules {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxTemplateParts = 64;
constexpr std::size_t kMaxUrl = 2000;
constexpr std::size_t kMaxHeaders = 100;

Error invalid(std::string message) { return Error(ErrorKind::kInvalidRequest, std::move(message)); }

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

Result<std::string> requiredString(const json& object, const char* member, std::string_view where) {
  auto it = object.find(member);
  if (it == object.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return invalid(fmt::format("{}.{} is required and must be a non-empty string.", where, member));
  }
  return it->get<std::string>();
}

Status onlyMembers(const json& object, const std::set<std::string>& allowed,
                   const std::set<std::string>& unsupported, std::string_view where) {
  for (const auto& [key, value] : object.items()) {
    if (unsupported.contains(key)) {
      return invalid(fmt::format("{}.{} is not supported by fleetgate.", where, key));
    }
    if (!allowed.contains(key)) return invalid(fmt::format("{} has an unknown member {}.", where, key));
  }
  return {};
}

Result<Action> parseRepublish(const json& body, std::string_view where) {
  FG_RETURN_IF_ERROR(onlyMembers(body, {"roleArn", "topic", "qos"}, {"headers"}, where));
  // The role is what AWS assumes to publish; fleetgate publishes itself but keeps the
  // member required so payloads stay valid for AWS.
  FG_RETURN_IF_ERROR(requiredString(body, "roleArn", where));
  FG_ASSIGN_OR_RETURN(std::string topic, requiredString(body, "topic", where));
  RepublishAction action;
  FG_ASSIGN_OR_RETURN(action.topic, Template::parse(topic, std::string(where) + ".topic"));
  if (topic.find("${") == std::string::npos && !mqtt::isValidTopicName(topic)) {
    return invalid(fmt::format("{}.topic {} is not a valid topic name.", where, topic));
  }
  if (auto qos = body.find("qos"); qos != body.end()) {
    if (!qos->is_number_integer() || qos->get<std::int64_t>() < 0 || qos->get<std::int64_t>() > 1) {
      return invalid(fmt::format("{}.qos must be 0 or 1.", where));
    }
    action.qos = qos->get<int>();
  }
  return Action(std::move(action));
}

Result<Action> parseHttp(const json& body, std::string_view where) {
  FG_RETURN_IF_ERROR(onlyMembers(body, {"url", "confirmationUrl", "headers"}, {"auth"}, where));
  FG_ASSIGN_OR_RETURN(std::string url, requiredString(body, "url", where));
  if (url.size() > kMaxUrl) return invalid(fmt::format("{}.url is longer than 2000 characters.", where));
  if (startsWithNoCase(url, "https://")) {
    return invalid(fmt::format(
        "{}.url: https:// endpoints are not supported by fleetgate; use an http:// URL.", where));
  }
  if (!startsWithNoCase(url, "http://")) {
    return invalid(fmt::format("{}.url must be an http:// URL.", where));
  }
  if (url.find("${") == std::string::npos && !parseHttpUrl(url)) {
    return invalid(fmt::format("{}.url {} is not a valid URL.", where, url));
  }
  if (auto c = body.find("confirmationUrl"); c != body.end() && !c->is_string()) {
    return invalid(fmt::format("{}.confirmationUrl must be a string.", where));
  }
  HttpAction action;
  FG_ASSIGN_OR_RETURN(action.url, Template::parse(url, std::string(where) + ".url"));
  if (auto headers = body.find("headers"); headers != body.end()) {
    if (!headers->is_array() || headers->size() > kMaxHeaders) {
      return invalid(fmt::format("{}.headers must be a list of at most 100 headers.", where));
    }
    static const std::set<std::string> kReserved = {"host", "content-length", "transfer-encoding",
                                                    "connection"};
    for (std::size_t i = 0; i < headers->size(); ++i) {
      const json& h = (*headers)[i];
      std::string at = fmt::format("{}.headers[{}]", where, i);
      if (!h.is_object()) return invalid(at + " must be an object with key and value.");
      FG_RETURN_IF_ERROR(onlyMembers(h, {"key", "value"}, {}, at));
      FG_ASSIGN_OR_RETURN(std::string key, requiredString(h, "key", at));
      auto value = h.find("value");
      if (value == h.end() || !value->is_string()) return invalid(at + ".value must be a string.");
      if (key.size() > 256 || key.find_first_of(" \t\r\n:") != std::string::npos) {
        return invalid(at + ".key is not a valid header name.");
      }
      if (kReserved.contains(lower(key))) {
        return invalid(fmt::format("{}.key {} is set by fleetgate itself.", at, key));
      }
      const std::string& text = value->get_ref<const std::string&>();
      if (text.find_first_of("\r\n") != std::string::npos) {
        return invalid(at + ".value must not contain line breaks.");
      }
      FG_ASSIGN_OR_RETURN(auto tmpl, Template::parse(text, at + ".value"));
      action.headers.emplace_back(key, std::move(tmpl));
    }
  }
  return Action(std::move(action));
}

}  // namespace

Result<Template> Template::parse(std::string_view text, std::string_view field) {
  Template t;
  t.text_ = std::string(text);
  std::size_t i = 0;
  while (i < text.size()) {
    if (t.parts_.size() >= kMaxTemplateParts) {
      return invalid(fmt::format("{} has more than 64 substitution parts.", field));
    }
    auto open = text.find("${", i);
    if (open == std::string_view::npos) {
      t.parts_.push_back({std::string(text.substr(i)), {}});
      break;
    }
    if (open > i) t.parts_.push_back({std::string(text.substr(i, open - i)), {}});
    auto close = text.find('}', open + 2);
    if (close == std::string_view::npos) {
      return invalid(fmt::format("{}: unterminated substitution template at position {}.", field,
                                 open + 1));
    }
    auto expression = parseExpression(text.substr(open + 2, close - open - 2));
    if (!expression.ok()) {
      return invalid(fmt::format("{}: substitution template {} is invalid: {}", field,
                                 text.substr(open, close - open + 1), expression.error().message()));
    }
    t.parts_.push_back({"", std::move(expression).value()});
    i = close + 1;
  }
  return t;
}

std::string Template::render(const MessageContext& context) const {
  std::string out;
  for (const Part& part : parts_) {
    if (part.expression.empty()) {
      out += part.literal;
    } else {
      out += renderValue(part.expression.evaluate(context));
    }
  }
  return out;
}

std::string_view actionTypeName(const Action& action) {
  return std::holds_alternative<RepublishAction>(action) ? "RepublishAction" : "HttpAction";
}

Result<Action> parseAction(const json& action, std::string_view where) {
  if (!action.is_object() || action.size() != 1) {
    return invalid(fmt::format("{} must be an object naming exactly one action type.", where));
  }
  const std::string& type = action.begin().key();
  const json& body = action.begin().value();
  std::string at = fmt::format("{}.{}", where, type);
  if (type == "republish" || type == "http") {
    if (!body.is_object()) return invalid(at + " must be an object.");
    return type == "republish" ? parseRepublish(body, at) : parseHttp(body, at);
  }
  return invalid(fmt::format(
      "{}: the action type {} is not supported by fleetgate (supported: republish, http).", where,
      type));
}

Result<std::vector<Action>> parseActions(const json& actions) {
  if (!actions.is_array()) return invalid("actions must be a list.");
  if (actions.size() > kMaxActions) return invalid("A rule has at most 10 actions.");
  std::vector<Action> out;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    FG_ASSIGN_OR_RETURN(auto action, parseAction(actions[i], fmt::format("actions[{}]", i)));
    out.push_back(std::move(action));
  }
  return out;
}

std::optional<HttpUrl> parseHttpUrl(std::string_view url) {
  if (url.size() > kMaxUrl || !startsWithNoCase(url, "http://")) return std::nullopt;
  std::string_view rest = url.substr(7);
  auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  HttpUrl out;
  std::string_view port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    if (out.host.empty() || out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      return std::nullopt;
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (out.host.empty() ||
        out.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") !=
            std::string::npos) {
      return std::nullopt;
    }
  }
  if (authority.back() == ':') return std::nullopt;
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    out.port = std::to_string(value);
  } else {
    out.port = "80";
  }
  if (target.find_first_of(" \t\r\n") != std::string_view::npos) return std::nullopt;
  out.target = target.empty() ? "/" : std::string(target);
  if (out.target.front() == '?') out.target.insert(0, "/");
  return out;
}

}  // namespace fleetgate::rules
