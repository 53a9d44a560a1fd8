// Policies, their versions and attachments; thing principals (spec §1.7).
#include <algorithm>
#include <set>

#include "policy/document.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "registry/validation.h"

namespace fleetgate::registry {

using internal::millis;
using internal::timeOf;

namespace {

constexpr std::int64_t kMaxPolicyVersions = 5;
constexpr std::int64_t kMaxPoliciesPerTarget = 10;

struct PolicyRow {
  std::int64_t default_version;
  std::int64_t next_version;
  TimePoint created;
};

Result<std::optional<PolicyRow>> loadPolicy(store::Transaction& tx, const Account& a,
                                            std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT default_version, next_version, created_at "
                                            "FROM policies WHERE account_id = ? AND name = ?",
                                            {a.id, std::string(name)}));
  if (!row) return std::optional<PolicyRow>();
  return std::optional<PolicyRow>(
      PolicyRow{row->integer(0), row->integer(1), timeOf(row->integer(2))});
}

Result<PolicyRow> requirePolicy(store::Transaction& tx, const Account& a, std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto policy, loadPolicy(tx, a, name));
  if (!policy) return internal::notFound("Policy", name);
  return *policy;
}

Result<std::optional<PolicyVersion>> loadVersion(store::Transaction& tx, const Account& a,
                                                 std::string_view name, std::int64_t version,
                                                 std::int64_t default_version) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT document, created_at, generation_id FROM "
                                            "policy_versions WHERE account_id = ? AND "
                                            "policy_name = ? AND version_id = ?",
                                            {a.id, std::string(name), version}));
  if (!row) return std::optional<PolicyVersion>();
  PolicyVersion v;
  v.policy_name = std::string(name);
  v.version_id = std::to_string(version);
  v.document = row->text(0);
  v.is_default = version == default_version;
  v.creation_date = v.last_modified_date = timeOf(row->integer(1));
  v.generation_id = row->text(2);
  return std::optional<PolicyVersion>(std::move(v));
}

Result<std::int64_t> parseVersionId(std::string_view id) {
  if (id.empty() || id.size() > 9 || id.find_first_not_of("0123456789") != std::string_view::npos) {
    return Error(ErrorKind::kInvalidRequest, "policyVersionId must be a decimal number.");
  }
  return std::stoll(std::string(id));
}

Status validateDocument(const std::string& document) {
  FG_RETURN_IF_ERROR(policy::parseDocument(document));
  return {};
}

// A policy target is a certificate or thing group of this account, or a Cognito identity id.
Status checkTarget(store::Transaction& tx, const Account& a, std::string_view target) {
  auto arn = parseArn(target);
  if (!arn) {
    // Cognito identity ids look like "<region>:<uuid>".
    auto colon = target.find(':');
    if (colon != std::string_view::npos && colon > 0 && target.size() - colon - 1 == 36) return {};
    return Error(ErrorKind::kInvalidRequest, "The target is not a valid ARN or identity id.");
  }
  // Attachments are stored by ARN string: only the canonical ARN of this account and region
  // may be stored, or an alias would escape the checks that look up a.arn(...).
  if (arn->account != a.id || arn->region != a.region) {
    return Error(ErrorKind::kInvalidRequest, "The target belongs to another account or region.");
  }
  if (arn->kind == "cert") {
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT 1 FROM certificates WHERE account_id = ? "
                                              "AND id = ?",
                                              {a.id, arn->name}));
    if (!row) return internal::notFound("Certificate", arn->name);
    return {};
  }
  if (arn->kind == "thinggroup") {
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT 1 FROM thing_groups WHERE account_id = ? "
                                              "AND name = ?",
                                              {a.id, arn->name}));
    if (!row) return internal::notFound("Thing group", arn->name);
    return {};
  }
  return Error(ErrorKind::kInvalidRequest,
               "Policies attach to certificates, thing groups or identities, not " + arn->kind + ".");
}

// A thing principal is a certificate ARN of this account that exists.
Result<std::string> checkCertificatePrincipal(store::Transaction& tx, const Account& a,
                                              std::string_view principal) {
  auto arn = parseArn(principal);
  if (!arn || arn->kind != "cert") {
    return Error(ErrorKind::kInvalidRequest, "The principal is not a certificate ARN.");
  }
  if (arn->account != a.id || arn->region != a.region) {
    return Error(ErrorKind::kInvalidRequest,
                 "The principal belongs to another account or region.");
  }
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT 1 FROM certificates WHERE account_id = ? AND "
                                            "id = ?",
                                            {a.id, arn->name}));
  if (!row) return internal::notFound("Certificate", arn->name);
  return arn->name;
}

Status requireThing(store::Transaction& tx, const Account& a, const std::string& thing) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT 1 FROM things WHERE account_id = ? AND "
                                            "name = ?",
                                            {a.id, thing}));
  if (!row) return internal::notFound("Thing", thing);
  return {};
}

Result<Page<std::string>> pageOfStrings(store::Transaction& tx, const std::string& sql,
                                        std::vector<store::Value> params, const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  params.push_back(after);
  params.push_back(std::int64_t{page.limit + 1});
  FG_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
  std::vector<std::string> items;
  for (const auto& row : rows) items.push_back(row.text(0));
  return internal::makePage(std::move(items), page.limit, [](const std::string& s) { return s; });
}

}  // namespace

Result<PolicyVersion> Registry::createPolicy(const Account& a, const std::string& name,
                                             const std::string& document) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  FG_RETURN_IF_ERROR(validateDocument(document));
  PolicyVersion version;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(version, createPolicyTx(tx, events, a, name, document));
    return {};
  }));
  return version;
}

Result<PolicyVersion> Registry::createPolicyTx(store::Transaction& tx, std::vector<Event>& events,
                                               const Account& a, const std::string& name,
                                               const std::string& document) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  FG_RETURN_IF_ERROR(validateDocument(document));
  PolicyVersion version{name, "1", document, true, deps_.clock.now(), deps_.clock.now(),
                        deps_.random.hex(32)};
  FG_ASSIGN_OR_RETURN(auto existing, loadPolicy(tx, a, name));
  if (existing) {
    return Error(ErrorKind::kResourceAlreadyExists,
                 "Policy cannot be created - name already exists (name=" + name + ")")
        .withResource(name, a.arn("policy", name));
  }
  std::int64_t now = millis(version.creation_date);
  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO policies (account_id, name, default_version, "
                             "next_version, created_at) VALUES (?,?,1,2,?)",
                             {a.id, name, now}));
  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO policy_versions (account_id, policy_name, "
                             "version_id, document, created_at, generation_id) VALUES "
                             "(?,?,1,?,?,?)",
                             {a.id, name, document, now, version.generation_id}));
  events.push_back({Event::Operation::kCreated, EventResource::kPolicy, a.id, name});
  return version;
}

Result<Policy> Registry::getPolicy(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  Policy policy;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, name));
    FG_ASSIGN_OR_RETURN(auto version,
                        loadVersion(tx, a, name, row.default_version, row.default_version));
    if (!version) return internalError("policy without its default version");
    policy = Policy{std::string(name), version->document, version->version_id, row.created,
                    version->creation_date, version->generation_id};
    return {};
  }));
  return policy;
}

Status Registry::deletePolicy(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  std::string policy_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, policy_name));
    FG_ASSIGN_OR_RETURN(auto target, tx.queryOne("SELECT 1 FROM policy_targets WHERE account_id "
                                                 "= ? AND policy_name = ? LIMIT 1",
                                                 {a.id, policy_name}));
    if (target) {
      return Error(ErrorKind::kDeleteConflict,
                   "The policy cannot be deleted as the policy is attached to one or more "
                   "principals (name=" + policy_name + ")");
    }
    FG_ASSIGN_OR_RETURN(auto other, tx.queryOne("SELECT 1 FROM policy_versions WHERE account_id "
                                                "= ? AND policy_name = ? AND version_id <> ? "
                                                "LIMIT 1",
                                                {a.id, policy_name, row.default_version}));
    if (other) {
      return Error(ErrorKind::kDeleteConflict,
                   "The policy cannot be deleted as versions other than the default version "
                   "exist (name=" + policy_name + ")");
    }
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM policy_versions WHERE account_id = ? AND "
                               "policy_name = ?",
                               {a.id, policy_name}));
    FG_RETURN_IF_ERROR(
        tx.exec("DELETE FROM policies WHERE account_id = ? AND name = ?", {a.id, policy_name}));
    events.push_back({Event::Operation::kDeleted, EventResource::kPolicy, a.id, policy_name});
    return {};
  });
}

Result<Page<std::string>> Registry::listPolicies(const Account& a, const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<std::string> names;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    std::string sql = page.ascending
                          ? "SELECT name FROM policies WHERE account_id = ? AND name > ? ORDER BY "
                            "name LIMIT ?"
                          : "SELECT name FROM policies WHERE account_id = ? AND (? = '' OR name < "
                            "?) ORDER BY name DESC LIMIT ?";
    std::vector<store::Value> params{a.id, after};
    if (!page.ascending) params.push_back(after);
    params.push_back(std::int64_t{page.limit + 1});
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(sql, params));
    for (const auto& row : rows) names.push_back(row.text(0));
    return {};
  }));
  return internal::makePage(std::move(names), page.limit, [](const std::string& s) { return s; });
}

Result<PolicyVersion> Registry::createPolicyVersion(const Account& a, const std::string& name,
                                                    const std::string& document,
                                                    bool set_as_default) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  FG_RETURN_IF_ERROR(validateDocument(document));
  PolicyVersion version;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, name));
    FG_ASSIGN_OR_RETURN(auto count, tx.queryOne("SELECT COUNT(*) FROM policy_versions WHERE "
                                                "account_id = ? AND policy_name = ?",
                                                {a.id, name}));
    if (count->integer(0) >= kMaxPolicyVersions) {
      return Error(ErrorKind::kVersionsLimitExceeded,
                   "The policy " + name + " already has the maximum number of versions (5)");
    }
    TimePoint now = deps_.clock.now();
    version = PolicyVersion{name, std::to_string(row.next_version), document, set_as_default,
                            now, now, deps_.random.hex(32)};
    FG_RETURN_IF_ERROR(tx.exec("INSERT INTO policy_versions (account_id, policy_name, "
                               "version_id, document, created_at, generation_id) VALUES "
                               "(?,?,?,?,?,?)",
                               {a.id, name, row.next_version, document, millis(now),
                                version.generation_id}));
    FG_RETURN_IF_ERROR(tx.exec(
        "UPDATE policies SET next_version = next_version + 1, default_version = ? WHERE "
        "account_id = ? AND name = ?",
        {set_as_default ? row.next_version : row.default_version, a.id, name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kPolicy, a.id, name});
    return {};
  }));
  return version;
}

Result<PolicyVersion> Registry::getPolicyVersion(const Account& a, std::string_view name,
                                                 std::string_view version_id) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  FG_ASSIGN_OR_RETURN(std::int64_t id, parseVersionId(version_id));
  std::optional<PolicyVersion> version;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, name));
    FG_ASSIGN_OR_RETURN(version, loadVersion(tx, a, name, id, row.default_version));
    return {};
  }));
  if (!version) return internal::notFound("Policy version", version_id);
  return *version;
}

Result<std::vector<PolicyVersion>> Registry::listPolicyVersions(const Account& a,
                                                                std::string_view name) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  std::vector<PolicyVersion> versions;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, name));
    FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT version_id FROM policy_versions WHERE "
                                            "account_id = ? AND policy_name = ? ORDER BY "
                                            "version_id DESC",
                                            {a.id, std::string(name)}));
    for (const auto& r : rows) {
      FG_ASSIGN_OR_RETURN(auto v, loadVersion(tx, a, name, r.integer(0), row.default_version));
      if (v) versions.push_back(std::move(*v));
    }
    return {};
  }));
  return versions;
}

Status Registry::setDefaultPolicyVersion(const Account& a, std::string_view name,
                                         std::string_view version_id) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  FG_ASSIGN_OR_RETURN(std::int64_t id, parseVersionId(version_id));
  std::string policy_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, policy_name));
    FG_ASSIGN_OR_RETURN(auto version, loadVersion(tx, a, policy_name, id, row.default_version));
    if (!version) return internal::notFound("Policy version", version_id);
    FG_RETURN_IF_ERROR(tx.exec("UPDATE policies SET default_version = ? WHERE account_id = ? AND "
                               "name = ?",
                               {id, a.id, policy_name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kPolicy, a.id, policy_name});
    return {};
  });
}

Status Registry::deletePolicyVersion(const Account& a, std::string_view name,
                                     std::string_view version_id) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  FG_ASSIGN_OR_RETURN(std::int64_t id, parseVersionId(version_id));
  std::string policy_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, requirePolicy(tx, a, policy_name));
    FG_ASSIGN_OR_RETURN(auto version, loadVersion(tx, a, policy_name, id, row.default_version));
    if (!version) return internal::notFound("Policy version", version_id);
    if (version->is_default) {
      return Error(ErrorKind::kInvalidRequest, "Cannot delete the default version of a policy");
    }
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM policy_versions WHERE account_id = ? AND "
                               "policy_name = ? AND version_id = ?",
                               {a.id, policy_name, id}));
    events.push_back({Event::Operation::kUpdated, EventResource::kPolicy, a.id, policy_name});
    return {};
  });
}

Status Registry::attachPolicy(const Account& a, std::string_view name, std::string_view target) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  std::string policy_name(name), target_arn(target);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    return attachPolicyTx(tx, events, a, policy_name, target_arn);
  });
}

Status Registry::attachPolicyTx(store::Transaction& tx, std::vector<Event>& events,
                                const Account& a, const std::string& policy_name,
                                const std::string& target_arn) {
  FG_RETURN_IF_ERROR(validatePolicyName(policy_name));
  FG_RETURN_IF_ERROR(requirePolicy(tx, a, policy_name));
  FG_RETURN_IF_ERROR(checkTarget(tx, a, target_arn));
  FG_ASSIGN_OR_RETURN(auto attached, tx.queryOne("SELECT 1 FROM policy_targets WHERE "
                                                 "account_id = ? AND policy_name = ? AND "
                                                 "target = ?",
                                                 {a.id, policy_name, target_arn}));
  if (attached) return {};
  FG_ASSIGN_OR_RETURN(auto count, tx.queryOne("SELECT COUNT(*) FROM policy_targets WHERE "
                                              "account_id = ? AND target = ?",
                                              {a.id, target_arn}));
  if (count->integer(0) >= kMaxPoliciesPerTarget) {
    return Error(ErrorKind::kLimitExceeded, "At most 10 policies can be attached to a target.");
  }
  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO policy_targets (account_id, policy_name, target) "
                             "VALUES (?,?,?)",
                             {a.id, policy_name, target_arn}));
  events.push_back(
      {Event::Operation::kCreated, EventResource::kPolicyAttachment, a.id, target_arn + "|" + policy_name});
  return {};
}

Status Registry::detachPolicy(const Account& a, std::string_view name, std::string_view target) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  std::string policy_name(name), target_arn(target);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_RETURN_IF_ERROR(requirePolicy(tx, a, policy_name));
    FG_ASSIGN_OR_RETURN(auto removed, tx.exec("DELETE FROM policy_targets WHERE account_id = ? "
                                              "AND policy_name = ? AND target = ?",
                                              {a.id, policy_name, target_arn}));
    if (removed > 0) {
      events.push_back(
          {Event::Operation::kDeleted, EventResource::kPolicyAttachment, a.id, target_arn + "|" + policy_name});
    }
    return {};
  });
}

Result<Page<std::string>> Registry::listAttachedPolicies(const Account& a,
                                                         std::string_view target, bool recursive,
                                                         const PageRequest& page) {
  std::string target_arn(target);
  Page<std::string> result;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(checkTarget(tx, a, target_arn));
    std::vector<std::string> targets{target_arn};
    auto arn = parseArn(target_arn);
    if (recursive && arn && arn->kind == "thinggroup") {
      // Policies of every ancestor group apply to the group's things too.
      std::optional<std::string> parent = arn->name;
      for (int depth = 0; parent && depth < 8; ++depth) {
        FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT parent FROM thing_groups WHERE "
                                                  "account_id = ? AND name = ?",
                                                  {a.id, *parent}));
        parent = row ? row->optionalText(0) : std::nullopt;
        if (parent) targets.push_back(a.arn("thinggroup", *parent));
      }
    }
    FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
    std::set<std::string> names;
    for (const auto& t : targets) {
      FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT policy_name FROM policy_targets WHERE "
                                              "account_id = ? AND target = ? AND policy_name > ?",
                                              {a.id, t, after}));
      for (const auto& row : rows) names.insert(row.text(0));
    }
    std::vector<std::string> items(names.begin(), names.end());
    result = internal::makePage(std::move(items), page.limit,
                                [](const std::string& s) { return s; });
    return {};
  }));
  return result;
}

Result<Page<std::string>> Registry::listTargetsForPolicy(const Account& a, std::string_view name,
                                                         const PageRequest& page) {
  FG_RETURN_IF_ERROR(validatePolicyName(name));
  Page<std::string> result;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(requirePolicy(tx, a, name));
    FG_ASSIGN_OR_RETURN(result, pageOfStrings(tx,
                                              "SELECT target FROM policy_targets WHERE "
                                              "account_id = ? AND policy_name = ? AND target > ? "
                                              "ORDER BY target LIMIT ?",
                                              {a.id, std::string(name)}, page));
    return {};
  }));
  return result;
}

Status Registry::attachThingPrincipal(const Account& a, std::string_view thing,
                                      std::string_view principal, std::string_view type) {
  FG_RETURN_IF_ERROR(validateThingName(thing));
  if (type != "EXCLUSIVE_THING" && type != "NON_EXCLUSIVE_THING") {
    return Error(ErrorKind::kInvalidRequest,
                 "thingPrincipalType must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING.");
  }
  std::string thing_name(thing), principal_arn(principal), principal_type(type);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    return attachThingPrincipalTx(tx, events, a, thing_name, principal_arn, principal_type);
  });
}

Status Registry::attachThingPrincipalTx(store::Transaction& tx, std::vector<Event>& events,
                                        const Account& a, const std::string& thing_name,
                                        const std::string& principal_arn,
                                        const std::string& principal_type) {
  FG_RETURN_IF_ERROR(requireThing(tx, a, thing_name));
  FG_RETURN_IF_ERROR(checkCertificatePrincipal(tx, a, principal_arn));
  FG_ASSIGN_OR_RETURN(auto others, tx.query("SELECT thing_name, principal_type FROM "
                                            "thing_principals WHERE account_id = ? AND "
                                            "principal = ? AND thing_name <> ?",
                                            {a.id, principal_arn, thing_name}));
  for (const auto& other : others) {
    if (principal_type == "EXCLUSIVE_THING" || other.text(1) == "EXCLUSIVE_THING") {
      return Error(ErrorKind::kInvalidRequest,
                   "The principal is exclusively attached to thing " + other.text(0) +
                       " or cannot be exclusive while attached to other things.");
    }
  }
  FG_ASSIGN_OR_RETURN(auto changed,
                      tx.exec("INSERT INTO thing_principals (account_id, thing_name, "
                              "principal, principal_type) VALUES (?,?,?,?) ON CONFLICT DO "
                              "UPDATE SET principal_type = excluded.principal_type",
                              {a.id, thing_name, principal_arn, principal_type}));
  if (changed > 0) {
    events.push_back(
        {Event::Operation::kCreated, EventResource::kThingPrincipal, a.id, principal_arn + "|" + thing_name});
  }
  return {};
}

Status Registry::detachThingPrincipal(const Account& a, std::string_view thing,
                                      std::string_view principal) {
  FG_RETURN_IF_ERROR(validateThingName(thing));
  std::string thing_name(thing), principal_arn(principal);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_RETURN_IF_ERROR(requireThing(tx, a, thing_name));
    FG_ASSIGN_OR_RETURN(auto removed, tx.exec("DELETE FROM thing_principals WHERE account_id = ? "
                                              "AND thing_name = ? AND principal = ?",
                                              {a.id, thing_name, principal_arn}));
    if (removed > 0) {
      events.push_back(
          {Event::Operation::kDeleted, EventResource::kThingPrincipal, a.id, principal_arn + "|" + thing_name});
    }
    return {};
  });
}

Result<Page<ThingPrincipal>> Registry::listThingPrincipals(const Account& a,
                                                           std::string_view thing,
                                                           const PageRequest& page) {
  FG_RETURN_IF_ERROR(validateThingName(thing));
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<ThingPrincipal> items;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(requireThing(tx, a, std::string(thing)));
    FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT principal, principal_type FROM "
                                            "thing_principals WHERE account_id = ? AND "
                                            "thing_name = ? AND principal > ? ORDER BY principal "
                                            "LIMIT ?",
                                            {a.id, std::string(thing), after,
                                             std::int64_t{page.limit + 1}}));
    for (const auto& row : rows) items.push_back({row.text(0), row.text(1)});
    return {};
  }));
  return internal::makePage(std::move(items), page.limit,
                            [](const ThingPrincipal& p) { return p.principal; });
}

Result<Page<std::string>> Registry::listPrincipalThings(const Account& a,
                                                        std::string_view principal,
                                                        const PageRequest& page) {
  Page<std::string> result;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_RETURN_IF_ERROR(checkCertificatePrincipal(tx, a, principal));
    FG_ASSIGN_OR_RETURN(result, pageOfStrings(tx,
                                              "SELECT thing_name FROM thing_principals WHERE "
                                              "account_id = ? AND principal = ? AND thing_name > "
                                              "? ORDER BY thing_name LIMIT ?",
                                              {a.id, std::string(principal)}, page));
    return {};
  }));
  return result;
}

Result<PrincipalGrants> Registry::principalGrants(const Account& a,
                                                  std::string_view certificate_id) {
  const std::string arn = a.arn("cert", certificate_id);
  PrincipalGrants grants;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    auto documentsOf = [&](const std::string& target, std::vector<std::string>& out) -> Status {
      // No ORDER BY: with one, SQLite walks the primary key over the whole account instead of
      // the by-target index, and every connect pays for the account's size. Sorted here.
      FG_ASSIGN_OR_RETURN(
          auto rows,
          tx.query("SELECT t.policy_name, v.document FROM policy_targets t JOIN policies p ON "
                   "p.account_id = t.account_id AND p.name = t.policy_name JOIN policy_versions "
                   "v ON v.account_id = p.account_id AND v.policy_name = p.name AND "
                   "v.version_id = p.default_version WHERE t.account_id = ? AND t.target = ?",
                   {a.id, target}));
      std::vector<std::pair<std::string, std::string>> named;
      for (const auto& row : rows) named.emplace_back(row.text(0), row.text(1));
      std::sort(named.begin(), named.end());
      for (auto& [name, document] : named) out.push_back(std::move(document));
      return {};
    };
    FG_RETURN_IF_ERROR(documentsOf(arn, grants.policy_documents));
    FG_ASSIGN_OR_RETURN(
        auto things,
        tx.query("SELECT p.principal_type, t.name, t.id, t.type_name, t.attributes, t.version "
                 "FROM thing_principals p JOIN things t ON t.account_id = p.account_id AND "
                 "t.name = p.thing_name WHERE p.account_id = ? AND p.principal = ? ORDER BY "
                 "+t.name",  // `+`: sort the few rows, keep the by-principal index
                 {a.id, arn}));
    for (const auto& row : things) {
      PrincipalThing pt;
      pt.exclusive = row.text(0) == "EXCLUSIVE_THING";
      pt.thing.name = row.text(1);
      pt.thing.id = row.text(2);
      pt.thing.type_name = row.optionalText(3);
      pt.thing.attributes = internal::decodeAttributes(row.text(4));
      pt.thing.version = row.integer(5);
      FG_ASSIGN_OR_RETURN(auto groups, tx.query("SELECT group_name FROM thing_group_members "
                                                "WHERE account_id = ? AND thing_name = ?",
                                                {a.id, pt.thing.name}));
      std::set<std::string> seen;
      for (const auto& group_row : groups) {
        // A group's policies apply to the things of its descendants too.
        std::optional<std::string> group = group_row.text(0);
        for (int depth = 0; group && depth < 8 && seen.insert(*group).second; ++depth) {
          FG_RETURN_IF_ERROR(documentsOf(a.arn("thinggroup", *group), pt.group_policy_documents));
          FG_ASSIGN_OR_RETURN(auto parent, tx.queryOne("SELECT parent FROM thing_groups WHERE "
                                                       "account_id = ? AND name = ?",
                                                       {a.id, *group}));
          group = parent ? parent->optionalText(0) : std::nullopt;
        }
      }
      grants.things.push_back(std::move(pt));
    }
    return {};
  }));
  return grants;
}

}  // namespace fleetgate::registry
