#include "registry/schema.h"

namespace fleetgate::registry {
namespace {

// Timestamps are epoch milliseconds. JSON-valued columns hold compact JSON text.
//
// The SQL is portable: it is valid for SQLite and for PostgreSQL. Timestamps, versions and
// counters are BIGINT because PostgreSQL's INTEGER is 32 bits; 0/1 flags stay INTEGER.
// Released migrations said INTEGER where they now say BIGINT. That edit changes no database:
// migrations are applied once by version, so existing files never run this text again, and
// SQLite gives BIGINT the same INTEGER affinity, so new files store and compare exactly as
// before (no column here is a single-column INTEGER PRIMARY KEY, the one place the spelling
// would matter, as a rowid alias). Every migration after these must stay portable too.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE accounts (
  account_id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  endpoint_prefix TEXT NOT NULL UNIQUE,
  registration_code TEXT,
  created_at BIGINT NOT NULL
);
CREATE TABLE access_keys (
  access_key_id TEXT PRIMARY KEY,
  secret_access_key TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL
);
CREATE TABLE thing_types (
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  id TEXT NOT NULL,
  description TEXT,
  searchable_attributes TEXT NOT NULL,
  deprecated INTEGER NOT NULL DEFAULT 0,
  deprecation_date BIGINT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, name)
);
CREATE TABLE things (
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  id TEXT NOT NULL,
  type_name TEXT,
  attributes TEXT NOT NULL,
  version BIGINT NOT NULL,
  billing_group TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, name)
);
CREATE INDEX things_by_type ON things (account_id, type_name);
CREATE TABLE thing_groups (
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  id TEXT NOT NULL,
  parent TEXT,
  description TEXT,
  attributes TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, name)
);
CREATE TABLE thing_group_members (
  account_id TEXT NOT NULL,
  group_name TEXT NOT NULL,
  thing_name TEXT NOT NULL,
  PRIMARY KEY (account_id, group_name, thing_name)
);
CREATE INDEX thing_group_members_by_thing ON thing_group_members (account_id, thing_name);
CREATE TABLE ca_certificates (
  account_id TEXT NOT NULL,
  id TEXT NOT NULL,
  pem TEXT NOT NULL,
  subject_hex TEXT NOT NULL,
  public_key_hex TEXT NOT NULL,
  active INTEGER NOT NULL,
  auto_registration INTEGER NOT NULL,
  mode TEXT NOT NULL,
  registration_config TEXT,
  created_at BIGINT NOT NULL,
  modified_at BIGINT NOT NULL,
  customer_version BIGINT NOT NULL,
  generation_id TEXT NOT NULL,
  not_before BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  PRIMARY KEY (account_id, id)
);
CREATE INDEX ca_certificates_by_subject ON ca_certificates (account_id, subject_hex);
CREATE TABLE certificates (
  account_id TEXT NOT NULL,
  id TEXT NOT NULL,
  pem TEXT NOT NULL,
  status TEXT NOT NULL,
  ca_id TEXT,
  mode TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  modified_at BIGINT NOT NULL,
  customer_version BIGINT NOT NULL,
  generation_id TEXT NOT NULL,
  not_before BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  PRIMARY KEY (account_id, id)
);
CREATE INDEX certificates_by_id ON certificates (id);
CREATE INDEX certificates_by_created ON certificates (account_id, created_at, id);
CREATE INDEX certificates_by_ca ON certificates (account_id, ca_id, created_at, id);
CREATE TABLE policies (
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  default_version BIGINT NOT NULL,
  next_version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, name)
);
CREATE TABLE policy_versions (
  account_id TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  version_id BIGINT NOT NULL,
  document TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, policy_name, version_id)
);
CREATE TABLE policy_targets (
  account_id TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  target TEXT NOT NULL,
  PRIMARY KEY (account_id, policy_name, target)
);
CREATE INDEX policy_targets_by_target ON policy_targets (account_id, target);
CREATE TABLE thing_principals (
  account_id TEXT NOT NULL,
  thing_name TEXT NOT NULL,
  principal TEXT NOT NULL,
  principal_type TEXT NOT NULL,
  PRIMARY KEY (account_id, thing_name, principal)
);
CREATE INDEX thing_principals_by_principal ON thing_principals (account_id, principal);
CREATE TABLE provisioning_templates (
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT,
  enabled INTEGER NOT NULL,
  role_arn TEXT NOT NULL,
  pre_provisioning_hook TEXT,
  type TEXT NOT NULL,
  default_version BIGINT NOT NULL,
  next_version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  modified_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, name)
);
CREATE TABLE provisioning_template_versions (
  account_id TEXT NOT NULL,
  template_name TEXT NOT NULL,
  version_id BIGINT NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, template_name, version_id)
);
)sql";

// Topic rules (spec §1.10): actions and error_action hold the AWS `Action` JSON; topic_pattern
// is the SQL's FROM filter, kept for ListTopicRules.
constexpr std::string_view kV2TopicRules = R"sql(
CREATE TABLE topic_rules (
  account_id TEXT NOT NULL,
  name TEXT NOT NULL,
  sql TEXT NOT NULL,
  topic_pattern TEXT NOT NULL,
  description TEXT,
  actions TEXT NOT NULL,
  error_action TEXT,
  disabled INTEGER NOT NULL,
  aws_iot_sql_version TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  modified_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, name)
);
)sql";

constexpr store::Migration kMigrations[] = {
    {1, kV1},
    {2, kV2TopicRules},
};

}  // namespace

std::span<const store::Migration> migrations() { return kMigrations; }

}  // namespace fleetgate::registry
