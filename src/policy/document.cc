#include "policy/document.h"

#include <algorithm>
#include <array>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

namespace fleetgate::policy {
namespace {

using Json = nlohmann::json;

Error malformed(std::string message) {
  return Error(ErrorKind::kMalformedPolicy, std::move(message));
}

bool isJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }
bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) {
             return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

// One linear pass before nlohmann sees the text: the size quota and the nesting bound, so that
// neither a huge nor a deeply nested input costs more than a scan.
Status precheck(std::string_view json) {
  std::size_t characters = 0;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : json) {
    if (!isJsonWhitespace(c) && !isUtf8Continuation(c) && ++characters > kMaxCharacters) {
      return malformed("Policy document exceeds " + std::to_string(kMaxCharacters) +
                       " characters excluding whitespace.");
    }
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return malformed("Policy document is nested too deeply.");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return {};
}

// nlohmann keeps the last of duplicate keys silently; a policy whose meaning depends on which of
// two "Effect"s wins is refused instead.
class DuplicateKeyDetector {
 public:
  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        keys_.emplace_back();
        break;
      case Json::parse_event_t::key:
        if (!keys_.empty() && parsed.is_string() &&
            !keys_.back().insert(parsed.get_ref<const std::string&>()).second) {
          if (!duplicate_) duplicate_ = parsed.get_ref<const std::string&>();
        }
        break;
      case Json::parse_event_t::object_end:
        if (!keys_.empty()) keys_.pop_back();
        break;
      default:
        break;
    }
    return true;
  }
  const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  std::vector<std::set<std::string>> keys_;
  std::optional<std::string> duplicate_;
};

// Action prefixes accepted. greengrass: is included because AWS IoT policies for Greengrass core
// devices carry greengrass:* actions; fleetgate stores them and no evaluation ever matches them.
constexpr std::array<std::string_view, 2> kActionServices = {"iot", "greengrass"};

Status validateAction(const std::string& action, const std::string& where) {
  if (action == "*") return {};
  std::size_t colon = action.find(':');
  bool known_service =
      colon != std::string::npos &&
      std::any_of(kActionServices.begin(), kActionServices.end(), [&](std::string_view service) {
        return equalsIgnoreCase(std::string_view(action).substr(0, colon), service);
      });
  if (!known_service) {
    return malformed(where + ": action '" + action +
                     "' is not an AWS IoT action; use \"*\" or \"iot:<Action>\".");
  }
  std::string_view name = std::string_view(action).substr(colon + 1);
  if (name.empty() || !std::all_of(name.begin(), name.end(),
                                   [](char c) { return isLetter(c) || c == '*' || c == '?'; })) {
    return malformed(where + ": action '" + action +
                     "' must be a service prefix and an action name of letters, '*' or '?'.");
  }
  return {};
}

// Resource ARNs: "arn:<partition>:<service>:<region>:<account>:<resource>", any field may hold
// globs, the resource part may hold further ':' (and ${iot:...} variables). The service must be
// iot (or greengrass, as for actions) or a glob: an ARN of another service in an IoT policy can
// never match anything, so it is reported as the mistake it is.
Status validateResource(const std::string& resource, const std::string& where) {
  if (resource == "*") return {};
  std::array<std::string_view, 5> fields;
  std::string_view rest = resource;
  for (auto& field : fields) {
    std::size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return malformed(
          where + ": resource '" + resource +
          "' must be \"*\" or an ARN arn:<partition>:iot:<region>:<account>:<resource>.");
    }
    field = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
  }
  if (fields[0] != "arn" || fields[1].empty() || rest.empty()) {
    return malformed(
        where + ": resource '" + resource +
        "' must be \"*\" or an ARN arn:<partition>:iot:<region>:<account>:<resource>.");
  }
  std::string_view service = fields[2];
  bool glob = service.find_first_of("*?") != std::string_view::npos;
  if (!glob && service != "iot" && service != "greengrass") {
    return malformed(where + ": resource '" + resource + "' is not an AWS IoT resource ARN.");
  }
  return {};
}

// "Action": "iot:Publish" | ["iot:Publish", ...]: non-empty, strings only.
Result<std::vector<std::string>> stringList(const Json& value, const std::string& where) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
    return out;
  }
  if (!value.is_array() || value.empty()) {
    return malformed(where + " must be a string or a non-empty array of strings.");
  }
  for (const Json& item : value) {
    if (!item.is_string()) return malformed(where + " must contain only strings.");
    out.push_back(item.get<std::string>());
  }
  return out;
}

struct OperatorName {
  std::string_view name;
  ConditionOperator op;
};

constexpr std::array<OperatorName, 27> kOperators = {{
    {"StringEquals", ConditionOperator::kStringEquals},
    {"StringNotEquals", ConditionOperator::kStringNotEquals},
    {"StringEqualsIgnoreCase", ConditionOperator::kStringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", ConditionOperator::kStringNotEqualsIgnoreCase},
    {"StringLike", ConditionOperator::kStringLike},
    {"StringNotLike", ConditionOperator::kStringNotLike},
    {"NumericEquals", ConditionOperator::kNumericEquals},
    {"NumericNotEquals", ConditionOperator::kNumericNotEquals},
    {"NumericLessThan", ConditionOperator::kNumericLessThan},
    {"NumericLessThanEquals", ConditionOperator::kNumericLessThanEquals},
    {"NumericGreaterThan", ConditionOperator::kNumericGreaterThan},
    {"NumericGreaterThanEquals", ConditionOperator::kNumericGreaterThanEquals},
    {"DateEquals", ConditionOperator::kDateEquals},
    {"DateNotEquals", ConditionOperator::kDateNotEquals},
    {"DateLessThan", ConditionOperator::kDateLessThan},
    {"DateLessThanEquals", ConditionOperator::kDateLessThanEquals},
    {"DateGreaterThan", ConditionOperator::kDateGreaterThan},
    {"DateGreaterThanEquals", ConditionOperator::kDateGreaterThanEquals},
    {"Bool", ConditionOperator::kBool},
    {"BinaryEquals", ConditionOperator::kBinaryEquals},
    {"IpAddress", ConditionOperator::kIpAddress},
    {"NotIpAddress", ConditionOperator::kNotIpAddress},
    {"ArnEquals", ConditionOperator::kArnEquals},
    {"ArnLike", ConditionOperator::kArnLike},
    {"ArnNotEquals", ConditionOperator::kArnNotEquals},
    {"ArnNotLike", ConditionOperator::kArnNotLike},
    {"Null", ConditionOperator::kNull},
}};

// "ForAnyValue:StringLikeIfExists" -> qualifier, base operator, IfExists. Operator names are
// matched case-sensitively, as IAM documents them.
Status parseOperator(std::string_view text, Condition& out) {
  constexpr std::string_view kForAll = "ForAllValues:", kForAny = "ForAnyValue:";
  constexpr std::string_view kIfExists = "IfExists";
  std::string_view name = text;
  if (name.starts_with(kForAll)) {
    out.qualifier = SetQualifier::kForAllValues;
    name.remove_prefix(kForAll.size());
  } else if (name.starts_with(kForAny)) {
    out.qualifier = SetQualifier::kForAnyValue;
    name.remove_prefix(kForAny.size());
  }
  if (name.ends_with(kIfExists)) {
    out.if_exists = true;
    name.remove_suffix(kIfExists.size());
  }
  auto it = std::find_if(kOperators.begin(), kOperators.end(),
                         [&](const OperatorName& candidate) { return candidate.name == name; });
  // "Null" tests existence itself, so IAM has no NullIfExists.
  if (it == kOperators.end() || (it->op == ConditionOperator::kNull && out.if_exists)) {
    return malformed("Condition operator '" + std::string(text) + "' is not supported.");
  }
  out.base = it->op;
  return {};
}

std::optional<std::string> scalarText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return value.dump();
  return std::nullopt;
}

Result<std::vector<Condition>> parseConditions(const Json& block, const std::string& where) {
  if (!block.is_object()) return malformed(where + ": Condition must be an object.");
  std::vector<Condition> out;
  for (const auto& [op, keys] : block.items()) {
    Condition prototype;
    prototype.op = op;
    FG_RETURN_IF_ERROR(parseOperator(op, prototype));
    if (!keys.is_object() || keys.empty()) {
      return malformed(where + ": Condition operator '" + op +
                       "' must map to a non-empty object of condition keys.");
    }
    for (const auto& [key, value] : keys.items()) {
      if (key.empty()) return malformed(where + ": a condition key is empty.");
      Condition condition = prototype;
      condition.key = key;
      if (auto text = scalarText(value)) {
        condition.values.push_back(std::move(*text));
      } else if (value.is_array() && !value.empty()) {
        for (const Json& item : value) {
          auto item_text = scalarText(item);
          if (!item_text) {
            return malformed(where + ": values of condition key '" + key +
                             "' must be strings, booleans or numbers.");
          }
          condition.values.push_back(std::move(*item_text));
        }
      } else {
        return malformed(where + ": condition key '" + key +
                         "' must have a string, boolean, number or non-empty array value.");
      }
      out.push_back(std::move(condition));
    }
  }
  return out;
}

Result<Statement> parseStatement(const Json& json, const std::string& where) {
  if (!json.is_object()) return malformed(where + " must be an object.");
  Statement statement;
  bool has_effect = false, has_action = false, has_resource = false;
  for (const auto& [key, value] : json.items()) {
    if (key == "Sid") {
      if (!value.is_string()) return malformed(where + ": Sid must be a string.");
      statement.sid = value.get<std::string>();
    } else if (key == "Effect") {
      if (value == "Allow") {
        statement.effect = Effect::kAllow;
      } else if (value == "Deny") {
        statement.effect = Effect::kDeny;
      } else {
        return malformed(where + ": Effect must be \"Allow\" or \"Deny\".");
      }
      has_effect = true;
    } else if (key == "Action" || key == "NotAction") {
      if (has_action) return malformed(where + " must not have both Action and NotAction.");
      has_action = true;
      statement.not_action = key == "NotAction";
      FG_ASSIGN_OR_RETURN(statement.actions, stringList(value, where + ": " + key));
      for (const std::string& action : statement.actions) {
        FG_RETURN_IF_ERROR(validateAction(action, where));
      }
    } else if (key == "Resource" || key == "NotResource") {
      if (has_resource) return malformed(where + " must not have both Resource and NotResource.");
      has_resource = true;
      statement.not_resource = key == "NotResource";
      FG_ASSIGN_OR_RETURN(statement.resources, stringList(value, where + ": " + key));
      for (const std::string& resource : statement.resources) {
        FG_RETURN_IF_ERROR(validateResource(resource, where));
      }
    } else if (key == "Condition") {
      FG_ASSIGN_OR_RETURN(statement.conditions, parseConditions(value, where));
    } else if (key == "Principal" || key == "NotPrincipal") {
      return malformed(where + ": an AWS IoT policy must not specify a " + key +
                       "; it applies to the principals it is attached to.");
    } else {
      return malformed(where + ": unknown element '" + key + "'.");
    }
  }
  if (!has_effect) return malformed(where + " is missing Effect.");
  if (!has_action) return malformed(where + " is missing Action.");
  if (!has_resource) return malformed(where + " is missing Resource.");
  return statement;
}

Result<Document> parseJson(const Json& root) {
  if (!root.is_object()) return malformed("Policy document must be a JSON object.");
  Document document;
  document.version = std::string(kVersion2008);
  const Json* statements = nullptr;
  for (const auto& [key, value] : root.items()) {
    if (key == "Version") {
      if (!value.is_string() || (value.get_ref<const std::string&>() != kVersion2012 &&
                                 value.get_ref<const std::string&>() != kVersion2008)) {
        return malformed("Version must be \"2012-10-17\" or \"2008-10-17\".");
      }
      document.version = value.get<std::string>();
    } else if (key == "Id") {
      if (!value.is_string()) return malformed("Id must be a string.");
      document.id = value.get<std::string>();
    } else if (key == "Statement") {
      statements = &value;
    } else {
      return malformed("Policy document has an unknown element '" + key + "'.");
    }
  }
  if (statements == nullptr) return malformed("Policy document is missing Statement.");
  if (statements->is_object()) {
    FG_ASSIGN_OR_RETURN(Statement statement, parseStatement(*statements, "Statement"));
    document.statements.push_back(std::move(statement));
  } else if (statements->is_array() && !statements->empty()) {
    for (std::size_t i = 0; i < statements->size(); ++i) {
      FG_ASSIGN_OR_RETURN(Statement statement,
                          parseStatement((*statements)[i], "Statement[" + std::to_string(i) + "]"));
      document.statements.push_back(std::move(statement));
    }
  } else {
    return malformed("Statement must be an object or a non-empty array of objects.");
  }
  return document;
}

}  // namespace

std::size_t countPolicyCharacters(std::string_view json) {
  return static_cast<std::size_t>(std::count_if(json.begin(), json.end(), [](char c) {
    return !isJsonWhitespace(c) && !isUtf8Continuation(c);
  }));
}

Result<Document> parseDocument(std::string_view json) {
  if (json.size() > kMaxRawSize) {
    return malformed("Policy document exceeds " + std::to_string(kMaxRawSize) + " bytes.");
  }
  FG_RETURN_IF_ERROR(precheck(json));
  DuplicateKeyDetector detector;
  Json root;
  try {
    root = Json::parse(json.begin(), json.end(), std::ref(detector), /*allow_exceptions=*/false);
  } catch (const Json::exception& e) {
    // Not expected with allow_exceptions=false; kept so that no nlohmann path can escape.
    return Error(ErrorKind::kMalformedPolicy, "Policy document is not valid JSON.", e.what());
  }
  if (root.is_discarded()) return malformed("Policy document is not valid JSON.");
  if (detector.duplicate()) {
    return malformed("Policy document repeats the key '" + *detector.duplicate() + "'.");
  }
  try {
    return parseJson(root);
  } catch (const Json::exception& e) {
    return Error(ErrorKind::kMalformedPolicy, "Policy document is malformed.", e.what());
  }
}

}  // namespace fleetgate::policy
