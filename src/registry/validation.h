#pragma once

#include <string_view>

#include "common/error.h"
#include "registry/model.h"

namespace fleetgate::registry {

// Name and value rules of spec §1.2. Each returns InvalidRequestException naming the field.
Status validateThingName(std::string_view name, std::string_view field = "thingName");
Status validatePolicyName(std::string_view name);
Status validateTemplateName(std::string_view name);
Status validateCertificateId(std::string_view id, std::string_view field = "certificateId");
Status validateAttributes(const Attributes& attributes);

// Parsed `arn:aws:iot:<region>:<account>:<kind>/<name>`.
struct Arn {
  std::string region;
  std::string account;
  std::string kind;
  std::string name;
};
std::optional<Arn> parseArn(std::string_view arn);

}  // namespace fleetgate::registry
