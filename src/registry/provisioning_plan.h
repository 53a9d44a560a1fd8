#pragma once

// What a provisioning template evaluates to (provisioning/template.h) and what
// Registry::provision applies in one transaction. Plain data: the template engine fills it
// without touching the registry, the registry owns every rule about applying it.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pki/certificate.h"
#include "registry/model.h"

namespace fleetgate::registry {

// What to do with a property of a resource that already exists (spec §7.4). kMerge is only
// meaningful for thing attributes and thing groups.
enum class OverrideSetting { kDoNothing, kReplace, kFail, kMerge };

struct PlannedThing {
  std::string logical_name;
  std::string name;
  // Each property is set only when the template names it; an unset property leaves an
  // existing thing's value alone whatever its OverrideSetting.
  std::optional<Attributes> attributes;
  std::optional<std::string> type_name;
  std::optional<std::vector<std::string>> groups;
  std::optional<std::string> billing_group;
  // AWS documents no defaults. Attributes and type follow the template (REPLACE); groups are
  // only added to (MERGE) so that a template that forgets a group never silently removes a
  // thing from it.
  OverrideSetting attributes_override = OverrideSetting::kReplace;
  OverrideSetting type_override = OverrideSetting::kReplace;
  OverrideSetting groups_override = OverrideSetting::kMerge;
};

struct PlannedCertificate {
  std::string logical_name;
  enum class Source { kId, kPem, kCsr };
  Source source = Source::kId;
  std::string value;                  // certificate id, certificate PEM or CSR PEM
  std::optional<std::string> ca_pem;  // CACertificatePem, with kPem only
  CertificateStatus status = CertificateStatus::kActive;
  // Applies to a certificate that existed before provisioning and is not PENDING_ACTIVATION
  // (a pending certificate is the one being provisioned and always takes `status`).
  OverrideSetting status_override = OverrideSetting::kReplace;
};

struct PlannedPolicy {
  std::string logical_name;
  std::string name;
  std::optional<std::string> document;  // set: create the policy (or reuse an identical one)
};

struct ProvisioningPlan {
  std::optional<PlannedThing> thing;
  std::optional<PlannedCertificate> certificate;
  std::vector<PlannedPolicy> policies;
  std::map<std::string, std::string> device_configuration;
};

// A device certificate to register inside the same transaction before the plan runs (JITP).
struct CertificateToRegister {
  pki::Certificate certificate;
  std::string ca_id;
  CertificateMode mode = CertificateMode::kDefault;
};

struct ProvisioningOutcome {
  std::optional<Certificate> certificate;
  std::optional<std::string> certificate_pem;
  std::optional<std::string> thing_name;
  std::map<std::string, std::string> resource_arns;  // logical name -> ARN
};

}  // namespace fleetgate::registry
