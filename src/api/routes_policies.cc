// Policies, attachments and thing principals (spec §1.7).
#include "api/routes.h"

namespace fleetgate::api {

using registry::Registry;

namespace {

Json policyNames(const registry::Account& a, const std::vector<std::string>& names) {
  Json items = Json::array();
  for (const auto& n : names) items.push_back({{"policyName", n}, {"policyArn", a.arn("policy", n)}});
  return items;
}

Json versionJson(const registry::Account& a, const registry::PolicyVersion& v) {
  return Json{{"policyArn", a.arn("policy", v.policy_name)},
              {"policyName", v.policy_name},
              {"policyDocument", v.document},
              {"policyVersionId", v.version_id},
              {"isDefaultVersion", v.is_default},
              {"creationDate", toEpochSeconds(v.creation_date)},
              {"lastModifiedDate", toEpochSeconds(v.last_modified_date)},
              {"generationId", v.generation_id}};
}

Result<std::string> principalHeader(ApiRequest& r, const char* name) {
  auto principal = r.header(name);
  if (!principal || principal->empty()) {
    return Error(ErrorKind::kInvalidRequest, std::string(name) + " header is required.");
  }
  return std::string(*principal);
}

}  // namespace

void addPolicyRoutes(Router& router, Registry& registry) {
  router.add("POST", "/policies/{policyName}", "CreatePolicy", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto document, r.requiredBodyString("policyDocument"));
    FG_ASSIGN_OR_RETURN(auto v, registry.createPolicy(r.account(), r.path("policyName"), document));
    return Json{{"policyName", v.policy_name},
                {"policyArn", r.account().arn("policy", v.policy_name)},
                {"policyDocument", v.document},
                {"policyVersionId", v.version_id}};
  });
  router.add("GET", "/policies/{policyName}", "GetPolicy", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto p, registry.getPolicy(r.account(), r.path("policyName")));
    return Json{{"policyName", p.name},
                {"policyArn", r.account().arn("policy", p.name)},
                {"policyDocument", p.document},
                {"defaultVersionId", p.default_version_id},
                {"creationDate", toEpochSeconds(p.creation_date)},
                {"lastModifiedDate", toEpochSeconds(p.last_modified_date)},
                {"generationId", p.generation_id}};
  });
  router.add("DELETE", "/policies/{policyName}", "DeletePolicy", [&](ApiRequest& r) -> Result<Json> {
    FG_RETURN_IF_ERROR(registry.deletePolicy(r.account(), r.path("policyName")));
    return Json();
  });
  router.add("GET", "/policies", "ListPolicies", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto page, r.page("marker", "pageSize", 25));
    FG_ASSIGN_OR_RETURN(auto names, registry.listPolicies(r.account(), page));
    return withToken(Json{{"policies", policyNames(r.account(), names.items)}}, names,
                     "nextMarker");
  });
  router.add("POST", "/policies/{policyName}/version", "CreatePolicyVersion",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto document, r.requiredBodyString("policyDocument"));
               FG_ASSIGN_OR_RETURN(auto set_default, r.queryBool("setAsDefault"));
               FG_ASSIGN_OR_RETURN(auto v, registry.createPolicyVersion(
                                               r.account(), r.path("policyName"), document,
                                               set_default.value_or(false)));
               return Json{{"policyArn", r.account().arn("policy", v.policy_name)},
                           {"policyDocument", v.document},
                           {"policyVersionId", v.version_id},
                           {"isDefaultVersion", v.is_default}};
             });
  router.add("GET", "/policies/{policyName}/version/{policyVersionId}", "GetPolicyVersion",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto v, registry.getPolicyVersion(r.account(),
                                                                     r.path("policyName"),
                                                                     r.path("policyVersionId")));
               return versionJson(r.account(), v);
             });
  router.add("GET", "/policies/{policyName}/version", "ListPolicyVersions",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto versions,
                                   registry.listPolicyVersions(r.account(), r.path("policyName")));
               Json items = Json::array();
               for (const auto& v : versions) {
                 items.push_back({{"versionId", v.version_id},
                                  {"isDefaultVersion", v.is_default},
                                  {"createDate", toEpochSeconds(v.creation_date)}});
               }
               return Json{{"policyVersions", items}};
             });
  router.add("PATCH", "/policies/{policyName}/version/{policyVersionId}",
             "SetDefaultPolicyVersion", [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(registry.setDefaultPolicyVersion(
                   r.account(), r.path("policyName"), r.path("policyVersionId")));
               return Json();
             });
  router.add("DELETE", "/policies/{policyName}/version/{policyVersionId}", "DeletePolicyVersion",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(registry.deletePolicyVersion(r.account(), r.path("policyName"),
                                                               r.path("policyVersionId")));
               return Json();
             });
  router.add("PUT", "/target-policies/{policyName}", "AttachPolicy",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto target, r.requiredBodyString("target"));
               FG_RETURN_IF_ERROR(registry.attachPolicy(r.account(), r.path("policyName"), target));
               return Json();
             });
  router.add("POST", "/target-policies/{policyName}", "DetachPolicy",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto target, r.requiredBodyString("target"));
               FG_RETURN_IF_ERROR(registry.detachPolicy(r.account(), r.path("policyName"), target));
               return Json();
             });
  router.add("POST", "/attached-policies/{target}", "ListAttachedPolicies",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto recursive, r.queryBool("recursive"));
               FG_ASSIGN_OR_RETURN(auto page, r.page("marker", "pageSize", 25));
               FG_ASSIGN_OR_RETURN(auto names,
                                   registry.listAttachedPolicies(r.account(), r.path("target"),
                                                                 recursive.value_or(false), page));
               return withToken(Json{{"policies", policyNames(r.account(), names.items)}}, names,
                                "nextMarker");
             });
  router.add("POST", "/policy-targets/{policyName}", "ListTargetsForPolicy",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto page, r.page("marker", "pageSize", 25));
               FG_ASSIGN_OR_RETURN(auto targets, registry.listTargetsForPolicy(
                                                     r.account(), r.path("policyName"), page));
               return withToken(Json{{"targets", targets.items}}, targets, "nextMarker");
             });

  router.add("PUT", "/things/{thingName}/principals", "AttachThingPrincipal",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto principal, principalHeader(r, "x-amzn-principal"));
               std::string type = r.query("thingPrincipalType").value_or("NON_EXCLUSIVE_THING");
               FG_RETURN_IF_ERROR(registry.attachThingPrincipal(r.account(), r.path("thingName"),
                                                                principal, type));
               return Json();
             });
  router.add("DELETE", "/things/{thingName}/principals", "DetachThingPrincipal",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto principal, principalHeader(r, "x-amzn-principal"));
               FG_RETURN_IF_ERROR(
                   registry.detachThingPrincipal(r.account(), r.path("thingName"), principal));
               return Json();
             });
  router.add("GET", "/things/{thingName}/principals", "ListThingPrincipals",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 25));
               FG_ASSIGN_OR_RETURN(auto principals, registry.listThingPrincipals(
                                                        r.account(), r.path("thingName"), page));
               Json items = Json::array();
               for (const auto& p : principals.items) items.push_back(p.principal);
               return withToken(Json{{"principals", items}}, principals);
             });
  router.add("GET", "/things/{thingName}/principals-v2", "ListThingPrincipalsV2",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 25));
               FG_ASSIGN_OR_RETURN(auto principals, registry.listThingPrincipals(
                                                        r.account(), r.path("thingName"), page));
               auto type = r.query("thingPrincipalType");
               Json items = Json::array();
               for (const auto& p : principals.items) {
                 if (type && p.type != *type) continue;
                 items.push_back({{"principal", p.principal}, {"thingPrincipalType", p.type}});
               }
               return withToken(Json{{"thingPrincipalObjects", items}}, principals);
             });
  router.add("GET", "/principals/things", "ListPrincipalThings",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto principal, principalHeader(r, "x-amzn-principal"));
               FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 25));
               FG_ASSIGN_OR_RETURN(auto things,
                                   registry.listPrincipalThings(r.account(), principal, page));
               return withToken(Json{{"things", things.items}}, things);
             });
}

}  // namespace fleetgate::api
