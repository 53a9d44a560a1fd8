#pragma once

#include "api/router.h"
#include "registry/registry.h"

namespace fleetgate::api {

// Each adds the routes of one area of the control plane (spec §1.4 - §1.9).
void addThingRoutes(Router& router, registry::Registry& registry);
void addCertificateRoutes(Router& router, registry::Registry& registry);
void addPolicyRoutes(Router& router, registry::Registry& registry);
void addProvisioningTemplateRoutes(Router& router, registry::Registry& registry);
void addTopicRuleRoutes(Router& router, registry::Registry& registry);
void addEndpointRoutes(Router& router, const std::string& domain);

}  // namespace fleetgate::api
