#pragma once

// The AWS IoT rule SQL subset fleetgate evaluates (docs/topic_rules.md):
//   SELECT <* | expr [AS name], ...> FROM '<topic filter>' [WHERE <condition>]
// Parsing and evaluation only: no I/O, no clock (the caller passes the timestamp).

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace fleetgate::rules {

// What an expression sees of one message.
struct MessageContext {
  std::string_view topic;  // for Basic Ingest, the topic after `$aws/rules/<ruleName>/`
  std::string_view client_id;
  std::string_view principal;
  std::int64_t timestamp_ms = 0;
  const nlohmann::json* payload = nullptr;  // null when the payload is not JSON
};

// An expression's value: a JSON value, or nullopt for AWS's `Undefined` (a missing field, an
// out-of-range topic level, a comparison of incomparable values).
using Value = std::optional<nlohmann::json>;

struct Node;
struct NodeDeleter {
  void operator()(Node* node) const;
};
using NodePtr = std::unique_ptr<Node, NodeDeleter>;

// A compiled expression (a select item, a WHERE condition, a `${...}` template part).
class Expression {
 public:
  Expression() = default;
  explicit Expression(NodePtr root) : root_(std::move(root)) {}
  Value evaluate(const MessageContext& context) const;
  bool empty() const { return root_ == nullptr; }

 private:
  std::shared_ptr<const Node> root_;
};

struct SelectItem {
  bool star = false;  // `*`: the payload's members
  Expression expression;
  std::string name;  // the output key: alias, last path segment, function name or `_<n>`
};

// What a rule's SELECT produced for one message.
struct RuleOutput {
  std::string body;  // the JSON object's text, or the payload bytes for `SELECT *` alone
  nlohmann::json object;  // the JSON object (null when the bytes were passed through)
};

class Query {
 public:
  const std::string& topicFilter() const { return topic_filter_; }
  bool hasWhere() const { return !where_.empty(); }

  // True when the WHERE clause (if any) is true for the message; Undefined and non-boolean
  // values are false, as in AWS.
  bool matches(const MessageContext& context) const;
  // The SELECT output. Undefined items are left out of the object.
  RuleOutput select(const MessageContext& context, std::string_view raw_payload) const;

 private:
  friend class Parser;
  std::vector<SelectItem> items_;
  std::string topic_filter_;
  Expression where_;
};

// Parses a whole rule statement. Errors are SqlParseException naming the 1-based position.
Result<Query> parseSql(std::string_view sql);
// Parses one expression (the text inside `${...}`); errors are SqlParseException.
Result<Expression> parseExpression(std::string_view text);

// Text of a value as substitution templates render it: strings bare, other JSON as JSON,
// Undefined as the empty string.
std::string renderValue(const Value& value);

// The payload as JSON when it is JSON whose nesting stays within `max_depth` (deeper
// documents are treated as non-JSON: every later recursive walk over them stays bounded).
std::optional<nlohmann::json> parsePayload(std::string_view payload, int max_depth = 64);

}  // namespace fleetgate::rules
