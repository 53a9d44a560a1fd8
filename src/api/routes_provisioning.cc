// Provisioning templates and versions, RegisterThing (spec §1.8) and DescribeEndpoint (§1.9).
#include "api/routes.h"
#include "provisioning/template.h"

namespace fleetgate::api {

using registry::Registry;

namespace {

Result<std::optional<registry::PreProvisioningHook>> hookOf(ApiRequest& r) {
  FG_ASSIGN_OR_RETURN(auto hook, r.bodyObject("preProvisioningHook"));
  if (!hook) return std::optional<registry::PreProvisioningHook>();
  registry::PreProvisioningHook out;
  auto target = hook->find("targetArn");
  if (target == hook->end() || !target->is_string()) {
    return Error(ErrorKind::kInvalidRequest, "preProvisioningHook.targetArn is required.");
  }
  out.target_arn = target->get<std::string>();
  if (auto v = hook->find("payloadVersion"); v != hook->end() && !v->is_null()) {
    if (!v->is_string()) {
      return Error(ErrorKind::kInvalidRequest, "preProvisioningHook.payloadVersion is a string.");
    }
    out.payload_version = v->get<std::string>();
  }
  return std::optional<registry::PreProvisioningHook>(std::move(out));
}

Json hookJson(const registry::PreProvisioningHook& hook) {
  Json j{{"targetArn", hook.target_arn}};
  if (hook.payload_version) j["payloadVersion"] = *hook.payload_version;
  return j;
}

// RegisterThing's `parameters`: a map of strings, keys up to 2048 and values up to 4096
// characters (botocore model).
Result<std::map<std::string, std::string>> registerThingParameters(ApiRequest& r) {
  FG_ASSIGN_OR_RETURN(auto object, r.bodyObject("parameters"));
  std::map<std::string, std::string> out;
  if (!object) return out;
  for (const auto& [key, value] : object->items()) {
    if (key.empty() || key.size() > 2048) {
      return Error(ErrorKind::kInvalidRequest, "A parameters key must be 1 to 2048 characters.");
    }
    if (!value.is_string() || value.get_ref<const std::string&>().size() > 4096) {
      return Error(ErrorKind::kInvalidRequest,
                   "parameters." + key + " must be a string of at most 4096 characters.");
    }
    out[key] = value.get<std::string>();
  }
  return out;
}

Result<std::int64_t> versionIdOf(ApiRequest& r) {
  const std::string& id = r.path("versionId");
  if (id.empty() || id.size() > 9 || id.find_first_not_of("0123456789") != std::string::npos) {
    return Error(ErrorKind::kInvalidRequest, "versionId must be an integer.");
  }
  return std::stoll(id);
}

// RegisterThing shares /things with CreateThing's /things/{thingName}; it lives with the
// template routes because it evaluates a template.
void addRegisterThingRoute(Router& router, Registry& registry) {
  router.add("POST", "/things", "RegisterThing", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto body, r.requiredBodyString("templateBody"));
    FG_ASSIGN_OR_RETURN(auto parameters, registerThingParameters(r));
    FG_ASSIGN_OR_RETURN(auto plan, provisioning::evaluateTemplate(
                                       body, parameters,
                                       provisioning::TemplateKind::kRegisterThing));
    FG_ASSIGN_OR_RETURN(auto outcome, registry.provision(r.account(), plan));
    Json j{{"resourceArns", outcome.resource_arns}};
    if (outcome.certificate_pem) j["certificatePem"] = *outcome.certificate_pem;
    return j;
  });
}

}  // namespace

void addProvisioningTemplateRoutes(Router& router, Registry& registry) {
  addRegisterThingRoute(router, registry);
  router.add("POST", "/provisioning-templates", "CreateProvisioningTemplate",
             [&](ApiRequest& r) -> Result<Json> {
               registry::CreateTemplateInput input;
               FG_ASSIGN_OR_RETURN(input.name, r.requiredBodyString("templateName"));
               FG_ASSIGN_OR_RETURN(input.description, r.bodyString("description"));
               FG_ASSIGN_OR_RETURN(input.body, r.requiredBodyString("templateBody"));
               FG_ASSIGN_OR_RETURN(auto enabled, r.bodyBool("enabled"));
               input.enabled = enabled.value_or(false);
               FG_ASSIGN_OR_RETURN(input.provisioning_role_arn,
                                   r.requiredBodyString("provisioningRoleArn"));
               FG_ASSIGN_OR_RETURN(input.pre_provisioning_hook, hookOf(r));
               FG_ASSIGN_OR_RETURN(auto type, r.bodyString("type"));
               if (type) input.type = *type;
               FG_ASSIGN_OR_RETURN(auto t, registry.createProvisioningTemplate(r.account(), input));
               return Json{{"templateArn", r.account().arn("provisioningtemplate", t.name)},
                           {"templateName", t.name},
                           {"defaultVersionId", t.default_version_id}};
             });
  router.add("GET", "/provisioning-templates/{templateName}", "DescribeProvisioningTemplate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto t, registry.describeProvisioningTemplate(
                                               r.account(), r.path("templateName")));
               Json j{{"templateArn", r.account().arn("provisioningtemplate", t.name)},
                      {"templateName", t.name},
                      {"creationDate", toEpochSeconds(t.creation_date)},
                      {"lastModifiedDate", toEpochSeconds(t.last_modified_date)},
                      {"defaultVersionId", t.default_version_id},
                      {"templateBody", t.body},
                      {"enabled", t.enabled},
                      {"provisioningRoleArn", t.provisioning_role_arn},
                      {"type", t.type}};
               if (t.description) j["description"] = *t.description;
               if (t.pre_provisioning_hook) j["preProvisioningHook"] = hookJson(*t.pre_provisioning_hook);
               return j;
             });
  router.add("GET", "/provisioning-templates", "ListProvisioningTemplates",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 25));
               FG_ASSIGN_OR_RETURN(auto templates,
                                   registry.listProvisioningTemplates(r.account(), page));
               Json items = Json::array();
               for (const auto& t : templates.items) {
                 Json j{{"templateArn", r.account().arn("provisioningtemplate", t.name)},
                        {"templateName", t.name},
                        {"creationDate", toEpochSeconds(t.creation_date)},
                        {"lastModifiedDate", toEpochSeconds(t.last_modified_date)},
                        {"enabled", t.enabled},
                        {"type", t.type}};
                 if (t.description) j["description"] = *t.description;
                 items.push_back(std::move(j));
               }
               return withToken(Json{{"templates", items}}, templates);
             });
  router.add("PATCH", "/provisioning-templates/{templateName}", "UpdateProvisioningTemplate",
             [&](ApiRequest& r) -> Result<Json> {
               registry::UpdateTemplateInput input;
               input.name = r.path("templateName");
               FG_ASSIGN_OR_RETURN(input.description, r.bodyString("description"));
               FG_ASSIGN_OR_RETURN(input.enabled, r.bodyBool("enabled"));
               FG_ASSIGN_OR_RETURN(input.default_version_id, r.bodyInt("defaultVersionId"));
               FG_ASSIGN_OR_RETURN(input.provisioning_role_arn, r.bodyString("provisioningRoleArn"));
               FG_ASSIGN_OR_RETURN(input.pre_provisioning_hook, hookOf(r));
               FG_ASSIGN_OR_RETURN(auto remove, r.bodyBool("removePreProvisioningHook"));
               input.remove_pre_provisioning_hook = remove.value_or(false);
               FG_RETURN_IF_ERROR(registry.updateProvisioningTemplate(r.account(), input));
               return Json();
             });
  router.add("DELETE", "/provisioning-templates/{templateName}", "DeleteProvisioningTemplate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(
                   registry.deleteProvisioningTemplate(r.account(), r.path("templateName")));
               return Json();
             });
  router.add("POST", "/provisioning-templates/{templateName}/versions",
             "CreateProvisioningTemplateVersion", [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto body, r.requiredBodyString("templateBody"));
               FG_ASSIGN_OR_RETURN(auto set_default, r.queryBool("setAsDefault"));
               FG_ASSIGN_OR_RETURN(auto v, registry.createProvisioningTemplateVersion(
                                               r.account(), r.path("templateName"), body,
                                               set_default.value_or(false)));
               return Json{
                   {"templateArn", r.account().arn("provisioningtemplate", r.path("templateName"))},
                   {"templateName", r.path("templateName")},
                   {"versionId", v.version_id},
                   {"isDefaultVersion", v.is_default}};
             });
  router.add("GET", "/provisioning-templates/{templateName}/versions",
             "ListProvisioningTemplateVersions", [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 25));
               FG_ASSIGN_OR_RETURN(auto versions, registry.listProvisioningTemplateVersions(
                                                      r.account(), r.path("templateName"), page));
               Json items = Json::array();
               for (const auto& v : versions.items) {
                 items.push_back({{"versionId", v.version_id},
                                  {"creationDate", toEpochSeconds(v.creation_date)},
                                  {"isDefaultVersion", v.is_default}});
               }
               return withToken(Json{{"versions", items}}, versions);
             });
  router.add("GET", "/provisioning-templates/{templateName}/versions/{versionId}",
             "DescribeProvisioningTemplateVersion", [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto id, versionIdOf(r));
               FG_ASSIGN_OR_RETURN(auto v, registry.describeProvisioningTemplateVersion(
                                               r.account(), r.path("templateName"), id));
               return Json{{"versionId", v.version_id},
                           {"creationDate", toEpochSeconds(v.creation_date)},
                           {"templateBody", v.body},
                           {"isDefaultVersion", v.is_default}};
             });
  router.add("DELETE", "/provisioning-templates/{templateName}/versions/{versionId}",
             "DeleteProvisioningTemplateVersion", [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto id, versionIdOf(r));
               FG_RETURN_IF_ERROR(registry.deleteProvisioningTemplateVersion(
                   r.account(), r.path("templateName"), id));
               return Json();
             });
}

void addEndpointRoutes(Router& router, const std::string& domain) {
  router.add("GET", "/endpoint", "DescribeEndpoint", [domain](ApiRequest& r) -> Result<Json> {
    const auto& a = r.account();
    std::string suffix = ".iot." + a.region + "." + domain;
    std::string type = r.query("endpointType").value_or("iot:Data");
    std::string host;
    if (type == "iot:Data-ATS") {
      host = a.endpoint_prefix + "-ats" + suffix;
    } else if (type == "iot:Data") {
      host = a.endpoint_prefix + suffix;
    } else if (type == "iot:CredentialProvider") {
      host = a.endpoint_prefix + ".credentials" + suffix;
    } else if (type == "iot:Jobs") {
      host = a.endpoint_prefix + ".jobs" + suffix;
    } else {
      return Error(ErrorKind::kInvalidRequest, "endpointType " + type + " is not supported.");
    }
    return Json{{"endpointAddress", host}};
  });
}

}  // namespace fleetgate::api
