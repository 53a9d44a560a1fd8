#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace fleetgate::registry {

struct Account {
  std::string id;  // 12 digits
  std::string region;
  std::string endpoint_prefix;

  // arn:aws:iot:<region>:<account>:<kind>/<name>
  std::string arn(std::string_view kind, std::string_view name) const;
};

using Attributes = std::map<std::string, std::string>;

struct Thing {
  std::string name;
  std::string id;
  std::optional<std::string> type_name;
  Attributes attributes;
  std::int64_t version = 1;
  std::optional<std::string> billing_group;
};

struct ThingType {
  std::string name;
  std::string id;
  std::optional<std::string> description;
  std::vector<std::string> searchable_attributes;
  bool deprecated = false;
  std::optional<TimePoint> deprecation_date;
  TimePoint creation_date;
};

struct ThingGroup {
  std::string name;
  std::string id;
  std::optional<std::string> parent;
  std::optional<std::string> description;
  Attributes attributes;
  std::int64_t version = 1;
  TimePoint creation_date;
  std::vector<std::string> ancestors;  // root first; filled by describe
};

enum class CertificateStatus {
  kActive,
  kInactive,
  kRevoked,
  kPendingTransfer,
  kRegisterInactive,
  kPendingActivation,
};
std::string_view toString(CertificateStatus s);
std::optional<CertificateStatus> parseCertificateStatus(std::string_view s);

enum class CertificateMode { kDefault, kSniOnly };
std::string_view toString(CertificateMode m);
std::optional<CertificateMode> parseCertificateMode(std::string_view s);

struct Certificate {
  std::string account_id;
  std::string id;  // SHA-256 of DER, lowercase hex
  std::string pem;
  CertificateStatus status = CertificateStatus::kInactive;
  std::optional<std::string> ca_id;
  CertificateMode mode = CertificateMode::kDefault;
  TimePoint creation_date;
  TimePoint last_modified_date;
  std::int64_t customer_version = 1;
  std::string generation_id;
  TimePoint not_before;
  TimePoint not_after;
};

struct RegistrationConfig {
  std::optional<std::string> template_body;
  std::optional<std::string> role_arn;
  std::optional<std::string> template_name;
  bool empty() const { return !template_body && !role_arn && !template_name; }
};

struct CaCertificate {
  std::string account_id;
  std::string id;
  std::string pem;
  bool active = false;
  bool auto_registration = false;
  CertificateMode mode = CertificateMode::kDefault;
  RegistrationConfig registration_config;
  TimePoint creation_date;
  TimePoint last_modified_date;
  std::int64_t customer_version = 1;
  std::string generation_id;
  TimePoint not_before;
  TimePoint not_after;
};

struct Policy {
  std::string name;
  std::string document;  // of the default version
  std::string default_version_id;
  TimePoint creation_date;
  TimePoint last_modified_date;
  std::string generation_id;
};

struct PolicyVersion {
  std::string policy_name;
  std::string version_id;
  std::string document;
  bool is_default = false;
  TimePoint creation_date;
  TimePoint last_modified_date;
  std::string generation_id;
};

struct PreProvisioningHook {
  std::string target_arn;
  std::optional<std::string> payload_version;
};

struct ProvisioningTemplate {
  std::string name;
  std::optional<std::string> description;
  std::string body;  // of the default version
  bool enabled = false;
  std::string provisioning_role_arn;
  std::optional<PreProvisioningHook> pre_provisioning_hook;
  std::string type;  // FLEET_PROVISIONING | JITP
  std::int64_t default_version_id = 1;
  TimePoint creation_date;
  TimePoint last_modified_date;
};

struct ProvisioningTemplateVersion {
  std::int64_t version_id = 1;
  std::string body;
  bool is_default = false;
  TimePoint creation_date;
};

struct ThingPrincipal {
  std::string principal;  // ARN
  std::string type;       // EXCLUSIVE_THING | NON_EXCLUSIVE_THING
};

// A page of a listing and the opaque token/marker that continues it.
template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next;
};

struct PageRequest {
  std::optional<std::string> token;  // nextToken or marker as the client sent it
  int limit = 25;
  bool ascending = true;
};

// A topic rule (spec §1.10). `actions` and `error_action` hold the AWS `Action` JSON as stored.
struct TopicRule {
  std::string name;
  std::string sql;
  std::string topic_pattern;  // the FROM topic filter
  std::optional<std::string> description;
  std::string actions;  // JSON array
  std::optional<std::string> error_action;  // JSON object
  bool disabled = false;
  std::string aws_iot_sql_version;
  TimePoint created_at;
  TimePoint modified_at;
};

}  // namespace fleetgate::registry
