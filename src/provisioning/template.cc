#include "provisioning/template.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "pki/digest.h"

namespace fleetgate::provisioning {

namespace {

using nlohmann::json;
using registry::OverrideSetting;

constexpr std::size_t kMaxTemplateBody = 10240;
// Intrinsics and literal nesting inside one property; AWS documents no bound, CloudFormation
// templates never come close, and the evaluator recurses once per level.
constexpr int kMaxDepth = 32;
// Fn::Sub can reuse one variable many times and nest, so without a bound a 10 KiB template
// could expand exponentially.
constexpr std::size_t kMaxValueLength = 65536;
constexpr std::string_view kBuiltinPrefix = "AWS::IoT::Certificate::";

const std::set<std::string, std::less<>> kJitpParameters = {
    "AWS::IoT::Certificate::Country",
    "AWS::IoT::Certificate::Organization",
    "AWS::IoT::Certificate::OrganizationalUnit",
    "AWS::IoT::Certificate::DistinguishedNameQualifier",
    "AWS::IoT::Certificate::StateName",
    "AWS::IoT::Certificate::CommonName",
    "AWS::IoT::Certificate::SerialNumber",
    "AWS::IoT::Certificate::Id",
};

Error invalid(std::string message) { return Error(ErrorKind::kInvalidRequest, std::move(message)); }
Error fail(std::string message) {
  return Error(ErrorKind::kResourceRegistrationFailure, std::move(message));
}

// Parameter values may carry any bytes (JITP takes them from certificate subjects): never let
// a dump throw on invalid UTF-8.
std::string dumpCompact(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool isIntrinsicKey(const std::string& key) { return key == "Ref" || key.starts_with("Fn::"); }

// Evaluates property values: intrinsic functions against the parameters and mappings, plain
// JSON as itself. A value is a JSON string, a JSON array of strings, or literal JSON.
class Evaluator {
 public:
  Evaluator(const std::map<std::string, std::string>& values, const json& mappings)
      : values_(values), mappings_(mappings) {}

  Result<json> resolve(const json& node, const std::string& where, int depth) const {
    if (depth > kMaxDepth) {
      return fail(where + ": nesting deeper than " + std::to_string(kMaxDepth) + " levels.");
    }
    if (node.is_object()) {
      bool intrinsic = std::any_of(node.items().begin(), node.items().end(),
                                   [](const auto& item) { return isIntrinsicKey(item.key()); });
      if (intrinsic) {
        if (node.size() != 1) {
          return fail(where + ": an intrinsic function object must have exactly one key.");
        }
        return intrinsicFunction(node.begin().key(), node.begin().value(), where, depth + 1);
      }
      json out = json::object();
      for (const auto& [key, value] : node.items()) {
        FG_ASSIGN_OR_RETURN(out[key], resolve(value, where, depth + 1));
      }
      return out;
    }
    if (node.is_array()) {
      json out = json::array();
      for (const auto& element : node) {
        FG_ASSIGN_OR_RETURN(json value, resolve(element, where, depth + 1));
        out.push_back(std::move(value));
      }
      return out;
    }
    return node;
  }

  Result<std::string> resolveString(const json& node, const std::string& where,
                                    int depth = 0) const {
    FG_ASSIGN_OR_RETURN(json value, resolve(node, where, depth));
    if (!value.is_string()) return fail(where + " must evaluate to a string.");
    return value.get<std::string>();
  }

  // Strings, and numbers or booleans written as they appear in JSON (attribute values and
  // device configuration are strings on the wire).
  Result<std::string> resolveScalar(const json& node, const std::string& where) const {
    FG_ASSIGN_OR_RETURN(json value, resolve(node, where, 0));
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number() || value.is_boolean()) return dumpCompact(value);
    return fail(where + " must evaluate to a string.");
  }

  Result<std::vector<std::string>> resolveList(const json& node, const std::string& where,
                                               int depth = 0) const {
    FG_ASSIGN_OR_RETURN(json value, resolve(node, where, depth));
    if (!value.is_array()) return fail(where + " must evaluate to a list of strings.");
    std::vector<std::string> out;
    for (const auto& element : value) {
      if (!element.is_string()) return fail(where + " must evaluate to a list of strings.");
      out.push_back(element.get<std::string>());
    }
    return out;
  }

 private:
  Result<json> intrinsicFunction(const std::string& fn, const json& arg, const std::string& where,
                                 int depth) const {
    const std::string at = where + ": " + fn;
    if (fn == "Ref") {
      if (!arg.is_string()) return fail(at + " takes a parameter name.");
      const std::string name = arg.get<std::string>();
      auto it = values_.find(name);
      if (it == values_.end())
        return fail(at + " names parameter " + name + ", which is not declared.");
      return json(it->second);
    }
    if (fn == "Fn::Join") {
      if (!arg.is_array() || arg.size() != 2) return fail(at + " takes [delimiter, [values]].");
      FG_ASSIGN_OR_RETURN(std::string delimiter, resolveString(arg[0], at, depth));
      FG_ASSIGN_OR_RETURN(auto values, resolveList(arg[1], at, depth));
      std::string out;
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += delimiter;
        out += values[i];
        if (out.size() > kMaxValueLength) return fail(at + " result is too long.");
      }
      return json(std::move(out));
    }
    if (fn == "Fn::Select") {
      if (!arg.is_array() || arg.size() != 2) return fail(at + " takes [index, [values]].");
      FG_ASSIGN_OR_RETURN(json index_value, resolve(arg[0], at, depth));
      std::size_t index = 0;
      if (index_value.is_number_unsigned()) {
        index = index_value.get<std::size_t>();
      } else if (index_value.is_number_integer()) {
        return fail(at + " index must not be negative.");
      } else if (index_value.is_string()) {
        const std::string text = index_value.get<std::string>();
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
        if (text.empty() || text.size() > 9 || ec != std::errc() ||
            end != text.data() + text.size()) {
          return fail(at + " index \"" + text + "\" is not a non-negative integer.");
        }
      } else {
        return fail(at + " index must be a number or a numeric string.");
      }
      FG_ASSIGN_OR_RETURN(json list, resolve(arg[1], at, depth));
      if (!list.is_array()) return fail(at + " takes a list to select from.");
      if (index >= list.size()) {
        return fail(at + " index " + std::to_string(index) + " is out of range (" +
                    std::to_string(list.size()) + " values).");
      }
      if (!list[index].is_string()) return fail(at + " selected a value that is not a string.");
      return list[index];
    }
    if (fn == "Fn::Split") {
      if (!arg.is_array() || arg.size() != 2) return fail(at + " takes [delimiter, string].");
      FG_ASSIGN_OR_RETURN(std::string delimiter, resolveString(arg[0], at, depth));
      if (delimiter.empty()) return fail(at + " delimiter must not be empty.");
      FG_ASSIGN_OR_RETURN(std::string text, resolveString(arg[1], at, depth));
      json out = json::array();
      std::size_t start = 0;
      for (;;) {
        std::size_t pos = text.find(delimiter, start);
        if (pos == std::string::npos) break;
        out.push_back(text.substr(start, pos - start));
        start = pos + delimiter.size();
      }
      out.push_back(text.substr(start));
      return out;
    }
    if (fn == "Fn::FindInMap") {
      if (!arg.is_array() || arg.size() != 3) {
        return fail(at + " takes [MapName, TopLevelKey, SecondLevelKey].");
      }
      std::string keys[3];
      for (std::size_t i = 0; i < 3; ++i) {
        FG_ASSIGN_OR_RETURN(keys[i], resolveString(arg[i], at, depth));
      }
      auto map = mappings_.find(keys[0]);
      if (map == mappings_.end()) return fail(at + ": no mapping " + keys[0] + ".");
      auto top = map->find(keys[1]);
      if (top == map->end())
        return fail(at + ": mapping " + keys[0] + " has no key " + keys[1] + ".");
      auto second = top->find(keys[2]);
      if (second == top->end()) {
        return fail(at + ": mapping " + keys[0] + "." + keys[1] + " has no key " + keys[2] + ".");
      }
      return *second;
    }
    if (fn == "Fn::Sub") {
      if (arg.is_string()) return substitute(arg.get<std::string>(), {}, at);
      if (!arg.is_array() || arg.size() != 2 || !arg[0].is_string() || !arg[1].is_object()) {
        return fail(at + " takes a string or [string, {variables}].");
      }
      std::map<std::string, std::string> variables;
      for (const auto& [name, value] : arg[1].items()) {
        FG_ASSIGN_OR_RETURN(variables[name], resolveString(value, at + " variable " + name, depth));
      }
      return substitute(arg[0].get<std::string>(), variables, at);
    }
    return fail(at + " is not a supported intrinsic function.");
  }

  // ${Name} is a variable (Fn::Sub's own, then a parameter); ${!Text} is the literal ${Text}.
  Result<json> substitute(const std::string& text,
                          const std::map<std::string, std::string>& variables,
                          const std::string& at) const {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t open = text.find("${", pos);
      if (open == std::string::npos) {
        out.append(text, pos, std::string::npos);
        break;
      }
      out.append(text, pos, open - pos);
      std::size_t close = text.find('}', open + 2);
      if (close == std::string::npos) return fail(at + ": unterminated ${ in \"" + text + "\".");
      std::string name = text.substr(open + 2, close - open - 2);
      if (name.starts_with("!")) {
        out += "${" + name.substr(1) + "}";
      } else if (name.empty()) {
        return fail(at + ": empty ${} in \"" + text + "\".");
      } else if (auto v = variables.find(name); v != variables.end()) {
        out += v->second;
      } else if (auto p = values_.find(name); p != values_.end()) {
        out += p->second;
      } else {
        return fail(at + ": ${" + name + "} is neither a variable nor a declared parameter.");
      }
      if (out.size() > kMaxValueLength) return fail(at + " result is too long.");
      pos = close + 1;
    }
    return json(std::move(out));
  }

  const std::map<std::string, std::string>& values_;
  const json& mappings_;
};

Result<OverrideSetting> parseOverride(const json& value, const std::string& where,
                                      bool merge_allowed) {
  if (!value.is_string()) return fail(where + " must be DO_NOTHING, REPLACE, FAIL or MERGE.");
  const std::string s = value.get<std::string>();
  if (s == "DO_NOTHING") return OverrideSetting::kDoNothing;
  if (s == "REPLACE") return OverrideSetting::kReplace;
  if (s == "FAIL") return OverrideSetting::kFail;
  if (s == "MERGE") {
    if (!merge_allowed) return fail(where + " cannot be MERGE.");
    return OverrideSetting::kMerge;
  }
  return fail(where + " must be DO_NOTHING, REPLACE, FAIL or MERGE, not " + s + ".");
}

// Checks that a resource uses only the named properties and override settings.
Status checkKeys(const json& object, const std::set<std::string>& allowed,
                 const std::string& what) {
  for (const auto& [key, value] : object.items()) {
    if (!allowed.contains(key)) return fail(what + " is not supported: " + key + ".");
  }
  return {};
}

Result<registry::PlannedThing> planThing(const Evaluator& ev, const std::string& logical,
                                         const json& properties, const json& overrides) {
  const std::string where = "Resource " + logical;
  FG_RETURN_IF_ERROR(checkKeys(
      properties, {"ThingName", "AttributePayload", "ThingTypeName", "ThingGroups", "BillingGroup"},
      where + " property"));
  FG_RETURN_IF_ERROR(checkKeys(overrides, {"AttributePayload", "ThingTypeName", "ThingGroups"},
                               where + " OverrideSettings"));
  registry::PlannedThing thing;
  thing.logical_name = logical;
  if (!properties.contains("ThingName")) return fail(where + " needs a ThingName.");
  FG_ASSIGN_OR_RETURN(thing.name, ev.resolveString(properties["ThingName"], where + " ThingName"));
  if (properties.contains("AttributePayload")) {
    const std::string at = where + " AttributePayload";
    FG_ASSIGN_OR_RETURN(json payload, ev.resolve(properties["AttributePayload"], at, 0));
    if (!payload.is_object()) return fail(at + " must be an object of attribute names to values.");
    registry::Attributes attributes;
    for (const auto& [name, value] : payload.items()) {
      if (value.is_string()) {
        attributes[name] = value.get<std::string>();
      } else if (value.is_number() || value.is_boolean()) {
        attributes[name] = dumpCompact(value);
      } else {
        return fail(at + " attribute " + name + " must be a string.");
      }
    }
    thing.attributes = std::move(attributes);
  }
  if (properties.contains("ThingTypeName")) {
    FG_ASSIGN_OR_RETURN(thing.type_name,
                        ev.resolveString(properties["ThingTypeName"], where + " ThingTypeName"));
  }
  if (properties.contains("ThingGroups")) {
    FG_ASSIGN_OR_RETURN(thing.groups,
                        ev.resolveList(properties["ThingGroups"], where + " ThingGroups"));
  }
  if (properties.contains("BillingGroup")) {
    FG_ASSIGN_OR_RETURN(thing.billing_group,
                        ev.resolveString(properties["BillingGroup"], where + " BillingGroup"));
  }
  if (overrides.contains("AttributePayload")) {
    FG_ASSIGN_OR_RETURN(thing.attributes_override,
                        parseOverride(overrides["AttributePayload"],
                                      where + " OverrideSettings AttributePayload", true));
  }
  if (overrides.contains("ThingTypeName")) {
    FG_ASSIGN_OR_RETURN(thing.type_override,
                        parseOverride(overrides["ThingTypeName"],
                                      where + " OverrideSettings ThingTypeName", false));
  }
  if (overrides.contains("ThingGroups")) {
    FG_ASSIGN_OR_RETURN(
        thing.groups_override,
        parseOverride(overrides["ThingGroups"], where + " OverrideSettings ThingGroups", true));
  }
  return thing;
}

Result<registry::PlannedCertificate> planCertificate(const Evaluator& ev,
                                                     const std::string& logical,
                                                     const json& properties, const json& overrides,
                                                     TemplateKind kind) {
  using Source = registry::PlannedCertificate::Source;
  const std::string where = "Resource " + logical;
  FG_RETURN_IF_ERROR(checkKeys(properties,
                               {"CertificateId", "CertificatePem", "CACertificatePem",
                                "CertificateSigningRequest", "Status"},
                               where + " property"));
  FG_RETURN_IF_ERROR(checkKeys(overrides, {"Status"}, where + " OverrideSettings"));
  registry::PlannedCertificate cert;
  cert.logical_name = logical;
  int methods = 0;
  for (const char* key : {"CertificateId", "CertificatePem", "CertificateSigningRequest"}) {
    if (properties.contains(key)) ++methods;
  }
  if (methods != 1) {
    return fail(where +
                " needs exactly one of CertificateId, CertificatePem and "
                "CertificateSigningRequest.");
  }
  if (properties.contains("CACertificatePem") && !properties.contains("CertificatePem")) {
    return fail(where + " CACertificatePem is only valid with CertificatePem.");
  }
  if (properties.contains("CertificateId")) {
    cert.source = Source::kId;
    FG_ASSIGN_OR_RETURN(cert.value,
                        ev.resolveString(properties["CertificateId"], where + " CertificateId"));
  } else if (properties.contains("CertificatePem")) {
    cert.source = Source::kPem;
    FG_ASSIGN_OR_RETURN(cert.value,
                        ev.resolveString(properties["CertificatePem"], where + " CertificatePem"));
    if (properties.contains("CACertificatePem")) {
      FG_ASSIGN_OR_RETURN(cert.ca_pem, ev.resolveString(properties["CACertificatePem"],
                                                        where + " CACertificatePem"));
    }
  } else {
    cert.source = Source::kCsr;
    FG_ASSIGN_OR_RETURN(cert.value, ev.resolveString(properties["CertificateSigningRequest"],
                                                     where + " CertificateSigningRequest"));
  }
  if (kind != TemplateKind::kRegisterThing && cert.source != Source::kId) {
    return fail(where + ": " + (kind == TemplateKind::kJitp ? "JITP" : "fleet provisioning") +
                " templates must identify the certificate by CertificateId.");
  }
  if (properties.contains("Status")) {
    FG_ASSIGN_OR_RETURN(std::string status,
                        ev.resolveString(properties["Status"], where + " Status"));
    std::string upper = status;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper == "ACTIVE") {
      cert.status = registry::CertificateStatus::kActive;
    } else if (upper == "INACTIVE") {
      cert.status = registry::CertificateStatus::kInactive;
    } else {
      return fail(where + " Status must be ACTIVE or INACTIVE, not " + status + ".");
    }
  }
  if (overrides.contains("Status")) {
    FG_ASSIGN_OR_RETURN(
        cert.status_override,
        parseOverride(overrides["Status"], where + " OverrideSettings Status", false));
  }
  return cert;
}

Result<registry::PlannedPolicy> planPolicy(const Evaluator& ev, const std::string& logical,
                                           const json& properties, const json& overrides) {
  const std::string where = "Resource " + logical;
  FG_RETURN_IF_ERROR(checkKeys(properties, {"PolicyName", "PolicyDocument"}, where + " property"));
  if (!overrides.empty()) return fail(where + ": policies take no OverrideSettings.");
  registry::PlannedPolicy policy;
  policy.logical_name = logical;
  if (!properties.contains("PolicyName") && !properties.contains("PolicyDocument")) {
    return fail(where + " needs a PolicyName or a PolicyDocument.");
  }
  if (properties.contains("PolicyDocument")) {
    const std::string at = where + " PolicyDocument";
    FG_ASSIGN_OR_RETURN(json document, ev.resolve(properties["PolicyDocument"], at, 0));
    if (document.is_string()) {
      policy.document = document.get<std::string>();
    } else if (document.is_object()) {
      policy.document = dumpCompact(document);
    } else {
      return fail(at + " must be a JSON object or a string holding one.");
    }
  }
  if (properties.contains("PolicyName")) {
    FG_ASSIGN_OR_RETURN(policy.name,
                        ev.resolveString(properties["PolicyName"], where + " PolicyName"));
  } else {
    policy.name = policyNameForDocument(*policy.document);
  }
  return policy;
}

// Mappings hold literal values only (spec §7.4): strings or lists of strings.
Status checkMappings(const json& mappings) {
  for (const auto& [map_name, map] : mappings.items()) {
    if (!map.is_object()) return invalid("Mapping " + map_name + " is not an object.");
    for (const auto& [top, entries] : map.items()) {
      if (!entries.is_object()) {
        return invalid("Mapping " + map_name + "." + top + " is not an object.");
      }
      for (const auto& [second, value] : entries.items()) {
        bool literal =
            value.is_string() ||
            (value.is_array() &&
             std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_string(); }));
        if (!literal) {
          return invalid("Mapping " + map_name + "." + top + "." + second +
                         " must be a literal string or list of strings.");
        }
      }
    }
  }
  return {};
}

// The value of every declared parameter: supplied, else its Default. JITP values come from
// the device certificate, so there every declared parameter must be supplied.
Result<std::map<std::string, std::string>> parameterValues(
    const json& declared, const std::map<std::string, std::string>& supplied, TemplateKind kind) {
  std::map<std::string, std::string> values;
  for (const auto& [name, declaration] : declared.items()) {
    if (!declaration.is_object() || !declaration.contains("Type") ||
        declaration["Type"] != "String") {
      return invalid("Parameter " + name + " must be an object with \"Type\": \"String\".");
    }
    if (declaration.contains("Default") && !declaration["Default"].is_string()) {
      return invalid("The Default of parameter " + name + " must be a string.");
    }
    auto given = supplied.find(name);
    if (kind == TemplateKind::kJitp) {
      if (!kJitpParameters.contains(name)) {
        return fail("Parameter " + name +
                    " is not allowed in a JITP template; only AWS::IoT::Certificate::* "
                    "parameters are.");
      }
      if (given == supplied.end()) {
        return fail("Parameter " + name + " has no value in the device certificate.");
      }
      values[name] = given->second;
      continue;
    }
    if (given != supplied.end()) {
      values[name] = given->second;
    } else if (declaration.contains("Default")) {
      values[name] = declaration["Default"].get<std::string>();
    } else {
      return fail("Parameter " + name + " has no value and no Default.");
    }
  }
  // The certificate's built-in values may be referenced without being declared.
  for (const auto& [name, value] : supplied) {
    if (name.starts_with(kBuiltinPrefix) && !values.contains(name)) values[name] = value;
  }
  return values;
}

Result<registry::ProvisioningPlan> evaluate(std::string_view body,
                                            const std::map<std::string, std::string>& parameters,
                                            TemplateKind kind) {
  if (body.empty() || body.size() > kMaxTemplateBody) {
    return invalid("templateBody must be 1 to 10240 characters long.");
  }
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return invalid("templateBody is not a JSON object.");
  static const std::set<std::string> kSections = {"Parameters", "Resources", "Mappings",
                                                  "DeviceConfiguration"};
  for (const auto& [key, value] : doc.items()) {
    if (!kSections.contains(key))
      return invalid("templateBody has an unknown section " + key + ".");
    if (!value.is_object()) return invalid("templateBody section " + key + " is not an object.");
  }
  if (!doc.contains("Resources") || doc["Resources"].empty()) {
    return invalid("templateBody needs a non-empty Resources section.");
  }
  const json no_object = json::object();
  const json& mappings = doc.contains("Mappings") ? doc["Mappings"] : no_object;
  FG_RETURN_IF_ERROR(checkMappings(mappings));
  FG_ASSIGN_OR_RETURN(auto values,
                      parameterValues(doc.contains("Parameters") ? doc["Parameters"] : no_object,
                                      parameters, kind));
  Evaluator ev(values, mappings);

  registry::ProvisioningPlan plan;
  for (const auto& [logical, resource] : doc["Resources"].items()) {
    const std::string where = "Resource " + logical;
    if (!resource.is_object()) return fail(where + " is not an object.");
    FG_RETURN_IF_ERROR(
        checkKeys(resource, {"Type", "Properties", "OverrideSettings"}, where + " key"));
    if (!resource.contains("Type") || !resource["Type"].is_string()) {
      return fail(where + " needs a Type.");
    }
    const std::string type = resource["Type"].get<std::string>();
    const json& properties = resource.contains("Properties") ? resource["Properties"] : no_object;
    const json& overrides =
        resource.contains("OverrideSettings") ? resource["OverrideSettings"] : no_object;
    if (!properties.is_object()) return fail(where + " Properties is not an object.");
    if (!overrides.is_object()) return fail(where + " OverrideSettings is not an object.");
    if (type == "AWS::IoT::Thing") {
      if (plan.thing) return fail(where + ": a template declares at most one AWS::IoT::Thing.");
      FG_ASSIGN_OR_RETURN(plan.thing, planThing(ev, logical, properties, overrides));
    } else if (type == "AWS::IoT::Certificate") {
      if (plan.certificate) {
        return fail(where + ": a template declares at most one AWS::IoT::Certificate.");
      }
      FG_ASSIGN_OR_RETURN(plan.certificate,
                          planCertificate(ev, logical, properties, overrides, kind));
    } else if (type == "AWS::IoT::Policy") {
      FG_ASSIGN_OR_RETURN(auto policy, planPolicy(ev, logical, properties, overrides));
      plan.policies.push_back(std::move(policy));
    } else {
      return fail(where + " has unsupported Type " + type +
                  "; use AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy.");
    }
  }
  if (doc.contains("DeviceConfiguration")) {
    for (const auto& [key, value] : doc["DeviceConfiguration"].items()) {
      FG_ASSIGN_OR_RETURN(plan.device_configuration[key],
                          ev.resolveScalar(value, "DeviceConfiguration " + key));
    }
  }
  return plan;
}

}  // namespace

std::string policyNameForDocument(std::string_view document) { return pki::sha256Hex(document); }

Result<registry::ProvisioningPlan> evaluateTemplate(
    std::string_view body, const std::map<std::string, std::string>& parameters,
    TemplateKind kind) {
  try {
    return evaluate(body, parameters, kind);
  } catch (const json::exception& e) {
    // Every access above is type-checked first; this only keeps a missed case from crossing
    // the module boundary as an exception.
    return Error(ErrorKind::kInvalidRequest, "templateBody could not be evaluated.", e.what());
  }
}

}  // namespace fleetgate::provisioning
