#pragma once

// The provisioning template language (spec §7.4, docs/provisioning_templates.md): parameters,
// mappings, intrinsic functions and the three resource types. Pure: no I/O, no registry
// access, so it is fuzzed on its own; applying the plan is Registry::provision's job.

#include <map>
#include <string>
#include <string_view>

#include "common/error.h"
#include "registry/provisioning_plan.h"

namespace fleetgate::provisioning {

enum class TemplateKind { kRegisterThing, kJitp, kFleetProvisioning };

// Parses and evaluates a template body with the given parameter values into the resources to
// create. Errors: kInvalidRequest for a body that is not a template; kResourceRegistrationFailure
// for evaluation failures (missing parameter without Default, bad intrinsic, Fn::Select out of
// range, FindInMap miss, unknown resource type, two identification methods, ...), each message
// naming the resource/parameter.
Result<registry::ProvisioningPlan> evaluateTemplate(
    std::string_view body, const std::map<std::string, std::string>& parameters, TemplateKind kind);

// The name given to a policy declared with a PolicyDocument and no PolicyName: lowercase hex
// SHA-256 of the document text (as given, or compact JSON when given as an object).
std::string policyNameForDocument(std::string_view document);

}  // namespace fleetgate::provisioning
