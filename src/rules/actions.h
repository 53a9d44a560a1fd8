#pragma once

// The rule actions fleetgate runs (republish, http), parsed from the AWS `Action` JSON shape,
// and substitution templates (`${expression}`). No I/O here.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/error.h"
#include "rules/sql.h"

namespace fleetgate::rules {

// Text with `${expression}` parts, evaluated against the incoming message.
class Template {
 public:
  static Result<Template> parse(std::string_view text, std::string_view field);
  std::string render(const MessageContext& context) const;
  const std::string& text() const { return text_; }

 private:
  struct Part {
    std::string literal;
    Expression expression;  // empty for a literal part
  };
  std::string text_;
  std::vector<Part> parts_;
};

struct RepublishAction {
  Template topic;
  int qos = 0;
};

struct HttpAction {
  Template url;
  std::vector<std::pair<std::string, Template>> headers;
};

using Action = std::variant<RepublishAction, HttpAction>;

// The AWS name of the action's type as error payloads report it ("RepublishAction", ...).
std::string_view actionTypeName(const Action& action);

constexpr std::size_t kMaxActions = 10;

// One `Action` object: exactly one member, `republish` or `http`. Any other type, an unknown
// or unsupported member (republish.headers, http.auth), a bad template, or an https:// URL is
// InvalidRequestException naming it; `where` prefixes the message ("actions[2]").
Result<Action> parseAction(const nlohmann::json& action, std::string_view where);
// The `actions` list (at most 10).
Result<std::vector<Action>> parseActions(const nlohmann::json& actions);

// The parts of a plain http:// URL.
struct HttpUrl {
  std::string host;  // without brackets for IPv6
  std::string port;  // "80" when absent
  std::string target;  // path and query, "/" when absent
};
std::optional<HttpUrl> parseHttpUrl(std::string_view url);

}  // namespace fleetgate::rules
