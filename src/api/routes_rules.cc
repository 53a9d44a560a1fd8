// Topic rules (spec §1.10; shapes from the botocore model). The HTTP body of CreateTopicRule and
// ReplaceTopicRule is the whole `topicRulePayload`.
#include "api/routes.h"

namespace fleetgate::api {

using registry::Registry;

namespace {

Result<registry::TopicRulePayload> payloadOf(ApiRequest& r) {
  registry::TopicRulePayload payload;
  FG_ASSIGN_OR_RETURN(payload.sql, r.requiredBodyString("sql"));
  FG_ASSIGN_OR_RETURN(payload.description, r.bodyString("description"));
  FG_ASSIGN_OR_RETURN(const Json* body, r.body());
  auto actions = body->find("actions");
  if (actions == body->end() || !actions->is_array()) {
    return Error(ErrorKind::kInvalidRequest, "actions is required and must be a list.");
  }
  payload.actions = actions->dump();
  FG_ASSIGN_OR_RETURN(auto disabled, r.bodyBool("ruleDisabled"));
  payload.disabled = disabled.value_or(false);
  FG_ASSIGN_OR_RETURN(payload.aws_iot_sql_version, r.bodyString("awsIotSqlVersion"));
  FG_ASSIGN_OR_RETURN(auto error_action, r.bodyObject("errorAction"));
  if (error_action) payload.error_action = error_action->dump();
  return payload;
}

Json ruleJson(const registry::TopicRule& rule) {
  Json j{{"ruleName", rule.name},
         {"sql", rule.sql},
         {"createdAt", toEpochSeconds(rule.created_at)},
         {"actions", Json::parse(rule.actions, nullptr, false)},
         {"ruleDisabled", rule.disabled},
         {"awsIotSqlVersion", rule.aws_iot_sql_version}};
  if (rule.description) j["description"] = *rule.description;
  if (rule.error_action) j["errorAction"] = Json::parse(*rule.error_action, nullptr, false);
  return j;
}

}  // namespace

void addTopicRuleRoutes(Router& router, Registry& registry) {
  router.add("POST", "/rules/{ruleName}", "CreateTopicRule", [&](ApiRequest& r) -> Result<Json> {
    // Tags (header x-amz-tagging) are accepted and not kept: fleetgate has no tagging API.
    FG_ASSIGN_OR_RETURN(auto payload, payloadOf(r));
    FG_RETURN_IF_ERROR(registry.createTopicRule(r.account(), r.path("ruleName"), payload));
    return Json();
  });
  router.add("GET", "/rules/{ruleName}", "GetTopicRule", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto rule, registry.getTopicRule(r.account(), r.path("ruleName")));
    return Json{{"ruleArn", r.account().arn("rule", rule.name)}, {"rule", ruleJson(rule)}};
  });
  router.add("GET", "/rules", "ListTopicRules", [&](ApiRequest& r) -> Result<Json> {
    registry::PageRequest page;
    page.token = r.query("nextToken");
    if (page.token && page.token->size() > 1024) {
      return Error(ErrorKind::kInvalidRequest, "nextToken is at most 1024 characters.");
    }
    FG_ASSIGN_OR_RETURN(auto limit, r.queryInt("maxResults", 1, 10000));
    page.limit = limit ? static_cast<int>(*limit) : 1000;
    registry::ListTopicRulesFilter filter;
    filter.topic = r.query("topic");
    FG_ASSIGN_OR_RETURN(filter.disabled, r.queryBool("ruleDisabled"));
    FG_ASSIGN_OR_RETURN(auto rules, registry.listTopicRules(r.account(), filter, page));
    Json items = Json::array();
    for (const auto& rule : rules.items) {
      items.push_back({{"ruleArn", r.account().arn("rule", rule.name)},
                       {"ruleName", rule.name},
                       {"topicPattern", rule.topic_pattern},
                       {"createdAt", toEpochSeconds(rule.created_at)},
                       {"ruleDisabled", rule.disabled}});
    }
    return withToken(Json{{"rules", items}}, rules);
  });
  router.add("PATCH", "/rules/{ruleName}", "ReplaceTopicRule", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto payload, payloadOf(r));
    FG_RETURN_IF_ERROR(registry.replaceTopicRule(r.account(), r.path("ruleName"), payload));
    return Json();
  });
  router.add("DELETE", "/rules/{ruleName}", "DeleteTopicRule", [&](ApiRequest& r) -> Result<Json> {
    FG_RETURN_IF_ERROR(registry.deleteTopicRule(r.account(), r.path("ruleName")));
    return Json();
  });
  router.add("POST", "/rules/{ruleName}/enable", "EnableTopicRule",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(
                   registry.setTopicRuleEnabled(r.account(), r.path("ruleName"), true));
               return Json();
             });
  router.add("POST", "/rules/{ruleName}/disable", "DisableTopicRule",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(
                   registry.setTopicRuleEnabled(r.account(), r.path("ruleName"), false));
               return Json();
             });
}

}  // namespace fleetgate::api
