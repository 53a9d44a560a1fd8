// Provisioning templates and their versions (spec §1.8). Stored and checked for shape here;
// evaluating them is the provisioning engine's job.
#include <nlohmann/json.hpp>
#include <set>

#include "registry/internal.h"
#include "registry/registry.h"
#include "registry/validation.h"

namespace fleetgate::registry {

using internal::millis;
using internal::timeOf;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxDescription = 500;
constexpr std::int64_t kMaxTemplateVersions = 5;

Error invalid(std::string message) {
  return Error(ErrorKind::kInvalidRequest, std::move(message));
}

}  // namespace

namespace internal {

// The template language's sections and resource shapes (spec §7.4), without evaluating it.
Status validateTemplateBody(const std::string& body) {
  constexpr std::size_t kMaxTemplateBody = 10240;
  if (body.empty() || body.size() > kMaxTemplateBody) {
    return invalid("templateBody must be 1 to 10240 characters long.");
  }
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return invalid("templateBody is not a JSON object.");
  static const std::set<std::string> kSections = {"Parameters", "Resources", "Mappings",
                                                  "DeviceConfiguration"};
  for (const auto& [key, value] : doc.items()) {
    if (!kSections.contains(key)) return invalid("templateBody has an unknown section " + key + ".");
    if (!value.is_object()) return invalid("templateBody section " + key + " is not an object.");
  }
  if (doc.contains("Parameters")) {
    for (const auto& [name, param] : doc["Parameters"].items()) {
      if (!param.is_object() || !param.contains("Type") || param["Type"] != "String") {
        return invalid("Parameter " + name + " must be an object with \"Type\": \"String\".");
      }
      if (param.contains("Default") && !param["Default"].is_string()) {
        return invalid("The Default of parameter " + name + " must be a string.");
      }
    }
  }
  if (!doc.contains("Resources") || doc["Resources"].empty()) {
    return invalid("templateBody needs a non-empty Resources section.");
  }
  static const std::set<std::string> kTypes = {"AWS::IoT::Thing", "AWS::IoT::Certificate",
                                               "AWS::IoT::Policy"};
  static const std::set<std::string> kOverrides = {"DO_NOTHING", "REPLACE", "FAIL", "MERGE"};
  for (const auto& [name, resource] : doc["Resources"].items()) {
    if (!resource.is_object() || !resource.contains("Type") || !resource["Type"].is_string() ||
        !kTypes.contains(resource["Type"].get<std::string>())) {
      return invalid("Resource " + name +
                     " needs a Type of AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy.");
    }
    if (!resource.contains("Properties") || !resource["Properties"].is_object()) {
      return invalid("Resource " + name + " needs a Properties object.");
    }
    if (resource.contains("OverrideSettings")) {
      const json& overrides = resource["OverrideSettings"];
      if (!overrides.is_object()) return invalid("OverrideSettings of " + name + " is not an object.");
      for (const auto& [key, value] : overrides.items()) {
        if (!value.is_string() || !kOverrides.contains(value.get<std::string>())) {
          return invalid("OverrideSettings " + key + " of " + name +
                         " must be DO_NOTHING, REPLACE, FAIL or MERGE.");
        }
      }
    }
  }
  return {};
}

Status validateRoleArn(const std::string& arn, std::string_view field) {
  if (arn.size() < 20 || arn.size() > 2048 || !arn.starts_with("arn:")) {
    return invalid(std::string(field) + " must be an IAM role ARN of 20 to 2048 characters.");
  }
  return {};
}

}  // namespace internal

namespace {

Status validateHook(const PreProvisioningHook& hook, const std::string& type) {
  if (type != "FLEET_PROVISIONING") {
    return invalid("A preProvisioningHook is only valid for FLEET_PROVISIONING templates.");
  }
  if (hook.target_arn.empty() || hook.target_arn.size() > 2048 ||
      !hook.target_arn.starts_with("arn:")) {
    return invalid("preProvisioningHook.targetArn must be an ARN.");
  }
  if (hook.payload_version) {
    const std::string& v = *hook.payload_version;
    if (v.size() < 10 || v.size() > 32 || v.find_first_not_of("0123456789-") != std::string::npos) {
      return invalid("preProvisioningHook.payloadVersion must match ^[0-9-]+$, 10 to 32 characters.");
    }
  }
  return {};
}

std::string encodeHook(const PreProvisioningHook& hook) {
  json j{{"targetArn", hook.target_arn}};
  if (hook.payload_version) j["payloadVersion"] = *hook.payload_version;
  return j.dump();
}

std::optional<PreProvisioningHook> decodeHook(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("targetArn")) return std::nullopt;
  PreProvisioningHook hook{j["targetArn"].get<std::string>(), std::nullopt};
  if (j.contains("payloadVersion")) hook.payload_version = j["payloadVersion"].get<std::string>();
  return hook;
}

constexpr const char* kTemplateColumns =
    "t.name, t.description, t.enabled, t.role_arn, t.pre_provisioning_hook, t.type, "
    "t.default_version, t.created_at, t.modified_at, v.body FROM provisioning_templates t JOIN "
    "provisioning_template_versions v ON v.account_id = t.account_id AND v.template_name = "
    "t.name AND v.version_id = t.default_version";

ProvisioningTemplate templateFrom(const store::Row& row) {
  ProvisioningTemplate t;
  t.name = row.text(0);
  t.description = row.optionalText(1);
  t.enabled = row.integer(2) != 0;
  t.provisioning_role_arn = row.text(3);
  t.pre_provisioning_hook = decodeHook(row.optionalText(4));
  t.type = row.text(5);
  t.default_version_id = row.integer(6);
  t.creation_date = timeOf(row.integer(7));
  t.last_modified_date = timeOf(row.integer(8));
  t.body = row.text(9);
  return t;
}

Result<ProvisioningTemplate> requireTemplate(store::Transaction& tx, const Account& a,
                                             std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kTemplateColumns +
                                                " WHERE t.account_id = ? AND t.name = ?",
                                            {a.id, std::string(name)}));
  if (!row) return internal::notFound("Provisioning template", name);
  return templateFrom(*row);
}

Result<std::optional<ProvisioningTemplateVersion>> loadTemplateVersion(
    store::Transaction& tx, const Account& a, std::string_view name, std::int64_t version_id,
    std::int64_t default_version) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT body, created_at FROM "
                                            "provisioning_template_versions WHERE account_id = ? "
                                            "AND template_name = ? AND version_id = ?",
                                            {a.id, std::string(name), version_id}));
  if (!row) return std::optional<ProvisioningTemplateVersion>();
  return std::optional<ProvisioningTemplateVersion>(ProvisioningTemplateVersion{
      version_id, row->text(0), version_id == default_version, timeOf(row->integer(1))});
}

}  // namespace

Result<ProvisioningTemplate> Registry::createProvisioningTemplate(
    const Account& a, const CreateTemplateInput& input) {
  FG_RETURN_IF_ERROR(validateTemplateName(input.name));
  if (input.description && input.description->size() > kMaxDescription) {
    return invalid("description is longer than 500 characters.");
  }
  if (input.type != "FLEET_PROVISIONING" && input.type != "JITP") {
    return invalid("type must be FLEET_PROVISIONING or JITP.");
  }
  FG_RETURN_IF_ERROR(internal::validateTemplateBody(input.body));
  FG_RETURN_IF_ERROR(internal::validateRoleArn(input.provisioning_role_arn, "provisioningRoleArn"));
  if (input.pre_provisioning_hook) {
    FG_RETURN_IF_ERROR(validateHook(*input.pre_provisioning_hook, input.type));
  }
  TimePoint now = deps_.clock.now();
  ProvisioningTemplate t{input.name, input.description, input.body, input.enabled,
                         input.provisioning_role_arn, input.pre_provisioning_hook, input.type, 1,
                         now, now};
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, tx.queryOne("SELECT 1 FROM provisioning_templates WHERE "
                                                   "account_id = ? AND name = ?",
                                                   {a.id, input.name}));
    if (existing) {
      return Error(ErrorKind::kResourceAlreadyExists,
                   "Provisioning template " + input.name + " already exists")
          .withResource(input.name, a.arn("provisioningtemplate", input.name));
    }
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO provisioning_templates (account_id, name, description, enabled, role_arn, "
        "pre_provisioning_hook, type, default_version, next_version, created_at, modified_at) "
        "VALUES (?,?,?,?,?,?,?,1,2,?,?)",
        {a.id, t.name, t.description ? store::Value(*t.description) : nullptr,
         std::int64_t{t.enabled}, t.provisioning_role_arn,
         t.pre_provisioning_hook ? store::Value(encodeHook(*t.pre_provisioning_hook)) : nullptr,
         t.type, millis(now), millis(now)}));
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO provisioning_template_versions (account_id, "
                               "template_name, version_id, body, created_at) VALUES (?,?,1,?,?)",
                               {a.id, t.name, t.body, millis(now)}));
    events.push_back({Event::Operation::kCreated, EventResource::kProvisioningTemplate, a.id, t.name});
    return {};
  }));
  return t;
}

Result<ProvisioningTemplate> Registry::describeProvisioningTemplate(const Account& a,
                                                                    std::string_view name) {
  FG_RETURN_IF_ERROR(validateTemplateName(name));
  std::optional<ProvisioningTemplate> t;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(t, requireTemplate(tx, a, name));
    return {};
  }));
  return *t;
}

Result<Page<ProvisioningTemplate>> Registry::listProvisioningTemplates(const Account& a,
                                                                       const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<ProvisioningTemplate> items;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kTemplateColumns +
                                                " WHERE t.account_id = ? AND t.name > ? ORDER BY "
                                                "t.name LIMIT ?",
                                            {a.id, after, std::int64_t{page.limit + 1}}));
    for (const auto& row : rows) items.push_back(templateFrom(row));
    return {};
  }));
  return internal::makePage(std::move(items), page.limit,
                            [](const ProvisioningTemplate& t) { return t.name; });
}

Status Registry::updateProvisioningTemplate(const Account& a, const UpdateTemplateInput& input) {
  FG_RETURN_IF_ERROR(validateTemplateName(input.name));
  if (input.description && input.description->size() > kMaxDescription) {
    return invalid("description is longer than 500 characters.");
  }
  if (input.provisioning_role_arn) {
    FG_RETURN_IF_ERROR(
        internal::validateRoleArn(*input.provisioning_role_arn, "provisioningRoleArn"));
  }
  if (input.pre_provisioning_hook && input.remove_pre_provisioning_hook) {
    return invalid("Cannot set and remove the preProvisioningHook in one request.");
  }
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto t, requireTemplate(tx, a, input.name));
    if (input.description) t.description = input.description;
    if (input.enabled) t.enabled = *input.enabled;
    if (input.provisioning_role_arn) t.provisioning_role_arn = *input.provisioning_role_arn;
    if (input.pre_provisioning_hook) {
      FG_RETURN_IF_ERROR(validateHook(*input.pre_provisioning_hook, t.type));
      t.pre_provisioning_hook = input.pre_provisioning_hook;
    }
    if (input.remove_pre_provisioning_hook) t.pre_provisioning_hook.reset();
    if (input.default_version_id) {
      FG_ASSIGN_OR_RETURN(auto version, loadTemplateVersion(tx, a, input.name,
                                                            *input.default_version_id, 0));
      if (!version) {
        return internal::notFound("Provisioning template version",
                                  std::to_string(*input.default_version_id));
      }
      t.default_version_id = *input.default_version_id;
    }
    FG_RETURN_IF_ERROR(tx.exec(
        "UPDATE provisioning_templates SET description = ?, enabled = ?, role_arn = ?, "
        "pre_provisioning_hook = ?, default_version = ?, modified_at = ? WHERE account_id = ? "
        "AND name = ?",
        {t.description ? store::Value(*t.description) : nullptr, std::int64_t{t.enabled},
         t.provisioning_role_arn,
         t.pre_provisioning_hook ? store::Value(encodeHook(*t.pre_provisioning_hook)) : nullptr,
         t.default_version_id, millis(deps_.clock.now()), a.id, input.name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kProvisioningTemplate, a.id, input.name});
    return {};
  });
}

Status Registry::deleteProvisioningTemplate(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateTemplateName(name));
  std::string template_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_RETURN_IF_ERROR(requireTemplate(tx, a, template_name));
    // A JITP template that a CA certificate's registrationConfig names is in use.
    FG_ASSIGN_OR_RETURN(auto cas, tx.query("SELECT id, registration_config FROM ca_certificates "
                                           "WHERE account_id = ? AND registration_config IS NOT "
                                           "NULL",
                                           {a.id}));
    for (const auto& row : cas) {
      json config = json::parse(row.text(1), nullptr, false);
      if (!config.is_object()) continue;
      auto it = config.find("templateName");
      if (it != config.end() && it->is_string() && it->get<std::string>() == template_name) {
        return Error(ErrorKind::kDeleteConflict,
                     "Provisioning template " + template_name +
                         " is used by the registrationConfig of CA certificate " + row.text(0));
      }
    }
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM provisioning_template_versions WHERE account_id = ? "
                               "AND template_name = ?",
                               {a.id, template_name}));
    FG_RETURN_IF_ERROR(tx.exec(
        "DELETE FROM provisioning_templates WHERE account_id = ? AND name = ?", {a.id, template_name}));
    events.push_back({Event::Operation::kDeleted, EventResource::kProvisioningTemplate, a.id, template_name});
    return {};
  });
}

Result<ProvisioningTemplateVersion> Registry::createProvisioningTemplateVersion(
    const Account& a, std::string_view name, const std::string& body, bool set_as_default) {
  FG_RETURN_IF_ERROR(validateTemplateName(name));
  FG_RETURN_IF_ERROR(internal::validateTemplateBody(body));
  std::string template_name(name);
  ProvisioningTemplateVersion version;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_RETURN_IF_ERROR(requireTemplate(tx, a, template_name));
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT next_version, default_version FROM "
                                              "provisioning_templates WHERE account_id = ? AND "
                                              "name = ?",
                                              {a.id, template_name}));
    FG_ASSIGN_OR_RETURN(auto count, tx.queryOne("SELECT COUNT(*) FROM "
                                                "provisioning_template_versions WHERE account_id "
                                                "= ? AND template_name = ?",
                                                {a.id, template_name}));
    if (count->integer(0) >= kMaxTemplateVersions) {
      return Error(ErrorKind::kVersionsLimitExceeded,
                   "The provisioning template " + template_name +
                       " already has the maximum number of versions (5)");
    }
    std::int64_t id = row->integer(0);
    TimePoint now = deps_.clock.now();
    version = ProvisioningTemplateVersion{id, body, set_as_default, now};
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO provisioning_template_versions (account_id, "
                               "template_name, version_id, body, created_at) VALUES (?,?,?,?,?)",
                               {a.id, template_name, id, body, millis(now)}));
    FG_RETURN_IF_ERROR(tx.exec(
        "UPDATE provisioning_templates SET next_version = next_version + 1, default_version = ?, "
        "modified_at = ? WHERE account_id = ? AND name = ?",
        {set_as_default ? id : row->integer(1), millis(now), a.id, template_name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kProvisioningTemplate, a.id, template_name});
    return {};
  }));
  return version;
}

Result<ProvisioningTemplateVersion> Registry::describeProvisioningTemplateVersion(
    const Account& a, std::string_view name, std::int64_t version_id) {
  FG_RETURN_IF_ERROR(validateTemplateName(name));
  std::optional<ProvisioningTemplateVersion> version;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto t, requireTemplate(tx, a, name));
    FG_ASSIGN_OR_RETURN(version,
                        loadTemplateVersion(tx, a, name, version_id, t.default_version_id));
    return {};
  }));
  if (!version) return internal::notFound("Provisioning template version", std::to_string(version_id));
  return *version;
}

Result<Page<ProvisioningTemplateVersion>> Registry::listProvisioningTemplateVersions(
    const Account& a, std::string_view name, const PageRequest& page) {
  FG_RETURN_IF_ERROR(validateTemplateName(name));
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::int64_t after_id = 0;
  if (!after.empty()) {
    if (after.find_first_not_of("0123456789") != std::string::npos || after.size() > 9) {
      return invalid("The pagination token is invalid.");
    }
    after_id = std::stoll(after);
  }
  std::vector<ProvisioningTemplateVersion> items;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto t, requireTemplate(tx, a, name));
    FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT version_id, body, created_at FROM "
                                            "provisioning_template_versions WHERE account_id = ? "
                                            "AND template_name = ? AND version_id > ? ORDER BY "
                                            "version_id LIMIT ?",
                                            {a.id, std::string(name), after_id,
                                             std::int64_t{page.limit + 1}}));
    for (const auto& row : rows) {
      items.push_back({row.integer(0), row.text(1), row.integer(0) == t.default_version_id,
                       timeOf(row.integer(2))});
    }
    return {};
  }));
  return internal::makePage(std::move(items), page.limit, [](const ProvisioningTemplateVersion& v) {
    return std::to_string(v.version_id);
  });
}

Status Registry::deleteProvisioningTemplateVersion(const Account& a, std::string_view name,
                                                   std::int64_t version_id) {
  FG_RETURN_IF_ERROR(validateTemplateName(name));
  std::string template_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto t, requireTemplate(tx, a, template_name));
    FG_ASSIGN_OR_RETURN(auto version, loadTemplateVersion(tx, a, template_name, version_id,
                                                          t.default_version_id));
    if (!version) {
      return internal::notFound("Provisioning template version", std::to_string(version_id));
    }
    if (version->is_default) {
      return Error(ErrorKind::kDeleteConflict,
                   "The default version of a provisioning template cannot be deleted.");
    }
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM provisioning_template_versions WHERE account_id = ? "
                               "AND template_name = ? AND version_id = ?",
                               {a.id, template_name, version_id}));
    events.push_back({Event::Operation::kUpdated, EventResource::kProvisioningTemplate, a.id, template_name});
    return {};
  });
}

}  // namespace fleetgate::registry
