#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

// The AWS IoT policy document (spec §8): model and validation. Evaluation lives elsewhere; the
// parsed form keeps every list flat and every operator pre-classified so an evaluator can compile
// it (globs, variables) once per connection without re-reading JSON or strings.
namespace fleetgate::policy {

inline constexpr std::string_view kVersion2012 = "2012-10-17";
inline constexpr std::string_view kVersion2008 = "2008-10-17";
// AWS quota: 2048 characters per document, whitespace excluded.
inline constexpr std::size_t kMaxCharacters = 2048;
// CreatePolicy's model bound on the raw document, checked before any parsing.
inline constexpr std::size_t kMaxRawSize = 404600;
// A valid document nests at most 6 levels (document, Statement array, statement, Condition,
// operator, value array); anything deeper is rejected before JSON parsing.
inline constexpr int kMaxDepth = 8;

enum class Effect { kAllow, kDeny };

// IAM condition operators without the set qualifier and the IfExists suffix.
enum class ConditionOperator {
  kStringEquals,
  kStringNotEquals,
  kStringEqualsIgnoreCase,
  kStringNotEqualsIgnoreCase,
  kStringLike,
  kStringNotLike,
  kNumericEquals,
  kNumericNotEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kDateEquals,
  kDateNotEquals,
  kDateLessThan,
  kDateLessThanEquals,
  kDateGreaterThan,
  kDateGreaterThanEquals,
  kBool,
  kBinaryEquals,
  kIpAddress,
  kNotIpAddress,
  kArnEquals,
  kArnLike,
  kArnNotEquals,
  kArnNotLike,
  kNull,
};

enum class SetQualifier { kNone, kForAllValues, kForAnyValue };

// One (operator, key) pair of a Condition block; all conditions of a statement must hold.
struct Condition {
  std::string op;  // as written, e.g. "StringEquals", "ForAnyValue:StringLikeIfExists"
  std::string key;
  // JSON booleans and numbers are kept in their JSON text form ("true", "42").
  std::vector<std::string> values;
  ConditionOperator base = ConditionOperator::kStringEquals;
  SetQualifier qualifier = SetQualifier::kNone;
  bool if_exists = false;
};

struct Statement {
  std::string sid;  // empty when absent
  Effect effect = Effect::kDeny;
  // IAM's NotAction / NotResource: the list names what the statement does NOT apply to.
  bool not_action = false;
  std::vector<std::string> actions;  // "*" or "iot:<Name>" (glob characters allowed in Name)
  bool not_resource = false;
  std::vector<std::string> resources;  // "*" or ARNs, possibly with globs and ${variables}
  std::vector<Condition> conditions;
};

struct Document {
  // "2012-10-17" or "2008-10-17". An absent Version is accepted, as IAM does, and means
  // "2008-10-17": policy variables are then literal text, never substituted.
  std::string version;
  std::string id;  // IAM's optional top-level "Id"; empty when absent
  std::vector<Statement> statements;

  bool substitutesVariables() const { return version == kVersion2012; }
};

// Parses and validates; errors are ErrorKind::kMalformedPolicy with a message naming the problem.
Result<Document> parseDocument(std::string_view json);

// Characters of a document that count against kMaxCharacters: every code point that is not JSON
// whitespace (space, tab, CR, LF), inside strings or not.
std::size_t countPolicyCharacters(std::string_view json);

}  // namespace fleetgate::policy
