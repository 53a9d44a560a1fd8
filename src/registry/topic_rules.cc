// Topic rules (spec §1.10): stored here, validated with the rule engine's own parsers so that
// a stored rule always compiles; evaluated by rules/.
#include <nlohmann/json.hpp>

#include "mqtt/topic.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "rules/actions.h"
#include "rules/sql.h"

namespace fleetgate::registry {

using internal::millis;
using internal::timeOf;
using nlohmann::json;

namespace {

constexpr const char* kDefaultSqlVersion = "2015-10-08";

Error invalid(std::string message) {
  return Error(ErrorKind::kInvalidRequest, std::move(message));
}

Status validateRuleName(std::string_view name) {
  if (name.empty() || name.size() > 128 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
          std::string_view::npos) {
    return invalid("ruleName must match ^[a-zA-Z0-9_]+$ and be 1 to 128 characters long.");
  }
  return {};
}

Error ruleNotFound(std::string_view name) {
  return Error(ErrorKind::kUnauthorized, "Rule " + std::string(name) + " does not exist");
}

// The payload as it will be stored: the FROM filter, canonical JSON, the SQL version.
struct CheckedPayload {
  std::string topic_pattern;
  std::string actions;
  std::optional<std::string> error_action;
  std::string sql_version;
};

Result<CheckedPayload> checkPayload(const TopicRulePayload& payload) {
  CheckedPayload out;
  FG_ASSIGN_OR_RETURN(auto query, rules::parseSql(payload.sql));
  out.topic_pattern = query.topicFilter();
  json actions = json::parse(payload.actions, nullptr, false);
  FG_RETURN_IF_ERROR(rules::parseActions(actions));
  out.actions = actions.dump();
  if (payload.error_action) {
    json error_action = json::parse(*payload.error_action, nullptr, false);
    FG_RETURN_IF_ERROR(rules::parseAction(error_action, "errorAction"));
    out.error_action = error_action.dump();
  }
  out.sql_version = payload.aws_iot_sql_version.value_or(kDefaultSqlVersion);
  if (out.sql_version != "2015-10-08" && out.sql_version != "2016-03-23" &&
      out.sql_version != "beta") {
    return invalid("awsIotSqlVersion must be 2015-10-08, 2016-03-23 or beta.");
  }
  return out;
}

constexpr const char* kRuleColumns =
    "name, sql, topic_pattern, description, actions, error_action, disabled, "
    "aws_iot_sql_version, created_at, modified_at FROM topic_rules";

TopicRule ruleFrom(const store::Row& row) {
  TopicRule r;
  r.name = row.text(0);
  r.sql = row.text(1);
  r.topic_pattern = row.text(2);
  r.description = row.optionalText(3);
  r.actions = row.text(4);
  r.error_action = row.optionalText(5);
  r.disabled = row.integer(6) != 0;
  r.aws_iot_sql_version = row.text(7);
  r.created_at = timeOf(row.integer(8));
  r.modified_at = timeOf(row.integer(9));
  return r;
}

Result<std::optional<TopicRule>> loadRule(store::Transaction& tx, const Account& a,
                                          std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kRuleColumns +
                                                " WHERE account_id = ? AND name = ?",
                                            {a.id, std::string(name)}));
  if (!row) return std::optional<TopicRule>();
  return std::optional<TopicRule>(ruleFrom(*row));
}

bool listed(const TopicRule& rule, const ListTopicRulesFilter& filter) {
  if (filter.disabled && rule.disabled != *filter.disabled) return false;
  if (!filter.topic) return true;
  if (rule.topic_pattern == *filter.topic) return true;
  return mqtt::isValidTopicName(*filter.topic) &&
         mqtt::topicMatches(rule.topic_pattern, *filter.topic);
}

}  // namespace

Status Registry::createTopicRule(const Account& a, const std::string& name,
                                 const TopicRulePayload& payload) {
  FG_RETURN_IF_ERROR(validateRuleName(name));
  FG_ASSIGN_OR_RETURN(auto checked, checkPayload(payload));
  std::int64_t now = millis(deps_.clock.now());
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, loadRule(tx, a, name));
    if (existing) {
      return Error(ErrorKind::kResourceAlreadyExists, "Rule " + name + " already exists")
          .withResource(name, a.arn("rule", name));
    }
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO topic_rules (account_id, name, sql, topic_pattern, description, actions, "
        "error_action, disabled, aws_iot_sql_version, created_at, modified_at) VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?)",
        {a.id, name, payload.sql, checked.topic_pattern,
         payload.description ? store::Value(*payload.description) : nullptr, checked.actions,
         checked.error_action ? store::Value(*checked.error_action) : nullptr,
         std::int64_t{payload.disabled}, checked.sql_version, now, now}));
    events.push_back({Event::Operation::kCreated, EventResource::kTopicRule, a.id, name});
    return {};
  });
}

Result<TopicRule> Registry::getTopicRule(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateRuleName(name));
  std::optional<TopicRule> rule;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(rule, loadRule(tx, a, name));
    return {};
  }));
  if (!rule) return ruleNotFound(name);
  return *rule;
}

Result<Page<TopicRule>> Registry::listTopicRules(const Account& a,
                                                 const ListTopicRulesFilter& filter,
                                                 const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<TopicRule> items;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    // The topic filter is MQTT matching, done here; an account holds at most a few thousand
    // rules, so the scan after the token is small.
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kRuleColumns +
                                                " WHERE account_id = ? AND name > ? ORDER BY name",
                                            {a.id, after}));
    for (const auto& row : rows) {
      TopicRule rule = ruleFrom(row);
      if (!listed(rule, filter)) continue;
      items.push_back(std::move(rule));
      if (static_cast<int>(items.size()) > page.limit) break;
    }
    return {};
  }));
  return internal::makePage(std::move(items), page.limit,
                            [](const TopicRule& r) { return r.name; });
}

Status Registry::replaceTopicRule(const Account& a, const std::string& name,
                                  const TopicRulePayload& payload) {
  FG_RETURN_IF_ERROR(validateRuleName(name));
  FG_ASSIGN_OR_RETURN(auto checked, checkPayload(payload));
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, loadRule(tx, a, name));
    if (!existing) return ruleNotFound(name);
    FG_RETURN_IF_ERROR(tx.exec(
        "UPDATE topic_rules SET sql = ?, topic_pattern = ?, description = ?, actions = ?, "
        "error_action = ?, disabled = ?, aws_iot_sql_version = ?, modified_at = ? WHERE "
        "account_id = ? AND name = ?",
        {payload.sql, checked.topic_pattern,
         payload.description ? store::Value(*payload.description) : nullptr, checked.actions,
         checked.error_action ? store::Value(*checked.error_action) : nullptr,
         std::int64_t{payload.disabled}, checked.sql_version, millis(deps_.clock.now()), a.id,
         name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kTopicRule, a.id, name});
    return {};
  });
}

Status Registry::deleteTopicRule(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateRuleName(name));
  std::string rule_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, loadRule(tx, a, rule_name));
    if (!existing) return ruleNotFound(rule_name);
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM topic_rules WHERE account_id = ? AND name = ?",
                               {a.id, rule_name}));
    events.push_back({Event::Operation::kDeleted, EventResource::kTopicRule, a.id, rule_name});
    return {};
  });
}

Status Registry::setTopicRuleEnabled(const Account& a, std::string_view name, bool enabled) {
  FG_RETURN_IF_ERROR(validateRuleName(name));
  std::string rule_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, loadRule(tx, a, rule_name));
    if (!existing) return ruleNotFound(rule_name);
    FG_RETURN_IF_ERROR(tx.exec("UPDATE topic_rules SET disabled = ?, modified_at = ? WHERE "
                               "account_id = ? AND name = ?",
                               {std::int64_t{!enabled}, millis(deps_.clock.now()), a.id,
                                rule_name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kTopicRule, a.id, rule_name});
    return {};
  });
}

Result<std::vector<TopicRule>> Registry::allTopicRules(std::string_view account_id) {
  std::vector<TopicRule> out;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kRuleColumns +
                                                " WHERE account_id = ? ORDER BY name",
                                            {std::string(account_id)}));
    for (const auto& row : rows) out.push_back(ruleFrom(row));
    return {};
  }));
  return out;
}

}  // namespace fleetgate::registry
