#include "registry/registry.h"

#include <algorithm>

#include "registry/internal.h"

namespace fleetgate::registry {

using internal::millis;

std::string Account::arn(std::string_view kind, std::string_view name) const {
  std::string out = "arn:aws:iot:" + region + ":" + id + ":";
  out += kind;
  out += "/";
  out += name;
  return out;
}

std::string_view toString(CertificateStatus s) {
  switch (s) {
    case CertificateStatus::kActive: return "ACTIVE";
    case CertificateStatus::kInactive: return "INACTIVE";
    case CertificateStatus::kRevoked: return "REVOKED";
    case CertificateStatus::kPendingTransfer: return "PENDING_TRANSFER";
    case CertificateStatus::kRegisterInactive: return "REGISTER_INACTIVE";
    case CertificateStatus::kPendingActivation: return "PENDING_ACTIVATION";
  }
  return "INACTIVE";
}

std::optional<CertificateStatus> parseCertificateStatus(std::string_view s) {
  for (auto status : {CertificateStatus::kActive, CertificateStatus::kInactive,
                      CertificateStatus::kRevoked, CertificateStatus::kPendingTransfer,
                      CertificateStatus::kRegisterInactive,
                      CertificateStatus::kPendingActivation}) {
    if (toString(status) == s) return status;
  }
  return std::nullopt;
}

std::string_view toString(CertificateMode m) {
  return m == CertificateMode::kSniOnly ? "SNI_ONLY" : "DEFAULT";
}

std::optional<CertificateMode> parseCertificateMode(std::string_view s) {
  if (s == "DEFAULT") return CertificateMode::kDefault;
  if (s == "SNI_ONLY") return CertificateMode::kSniOnly;
  return std::nullopt;
}

Registry::Registry(Dependencies deps) : deps_(deps) {}

Status Registry::write(
    const std::function<Status(store::Transaction&, std::vector<Event>&)>& body) {
  std::vector<Event> events;
  FG_RETURN_IF_ERROR(deps_.db.write([&](store::Transaction& tx) {
    events.clear();
    return body(tx, events);
  }));
  deps_.events.publish(events);
  return {};
}

Status Registry::read(const std::function<Status(store::Transaction&)>& body) {
  return deps_.db.read(body);
}

namespace {

Account accountFrom(const store::Row& row) {
  return Account{row.text(0), row.text(1), row.text(2)};
}

bool allDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

Result<Account> Registry::createAccount(const NewAccount& input) {
  if (input.id.size() != 12 || !allDigits(input.id)) {
    return Error(ErrorKind::kInvalidRequest, "An account id is 12 digits.");
  }
  if (input.endpoint_prefix.empty() || input.endpoint_prefix.size() > 63 ||
      input.endpoint_prefix.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") !=
          std::string::npos) {
    return Error(ErrorKind::kInvalidRequest,
                 "An endpoint prefix is 1 to 63 lowercase letters and digits.");
  }
  if (input.region.empty() ||
      input.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return Error(ErrorKind::kInvalidRequest, "A region is lowercase letters, digits and '-'.");
  }
  if (input.access_key_id.size() < 16 || input.access_key_id.size() > 128 ||
      input.secret_access_key.size() < 16) {
    return Error(ErrorKind::kInvalidRequest,
                 "An access key id is 16 to 128 characters and a secret at least 16.");
  }
  Account account{input.id, input.region, input.endpoint_prefix};
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing,
                        tx.queryOne("SELECT 1 FROM accounts WHERE account_id = ? OR "
                                    "endpoint_prefix = ?",
                                    {input.id, input.endpoint_prefix}));
    if (existing) {
      return Error(ErrorKind::kResourceAlreadyExists,
                   "An account with this id or endpoint prefix already exists.");
    }
    FG_ASSIGN_OR_RETURN(auto key, tx.queryOne("SELECT 1 FROM access_keys WHERE access_key_id = ?",
                                              {input.access_key_id}));
    if (key) return Error(ErrorKind::kResourceAlreadyExists, "The access key id is taken.");
    std::int64_t now = millis(deps_.clock.now());
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO accounts (account_id, region, endpoint_prefix, created_at) VALUES (?,?,?,?)",
        {input.id, input.region, input.endpoint_prefix, now}));
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO access_keys (access_key_id, secret_access_key, account_id, created_at) "
        "VALUES (?,?,?,?)",
        {input.access_key_id, deps_.secrets.seal(input.secret_access_key, input.access_key_id),
         input.id, now}));
    events.push_back({Event::Operation::kCreated, EventResource::kAccount, input.id, input.id});
    return {};
  }));
  return account;
}

Result<std::optional<AccessKey>> Registry::findAccessKey(std::string_view access_key_id) {
  std::optional<AccessKey> found;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(
        auto row, tx.queryOne("SELECT a.account_id, a.region, a.endpoint_prefix, "
                              "k.secret_access_key FROM access_keys k JOIN accounts a USING "
                              "(account_id) WHERE k.access_key_id = ?",
                              {std::string(access_key_id)}));
    if (!row) return {};
    FG_ASSIGN_OR_RETURN(auto secret, deps_.secrets.open(row->text(3), access_key_id));
    found = AccessKey{accountFrom(*row), std::move(secret)};
    return {};
  }));
  return found;
}

Result<std::size_t> Registry::resealSecrets() {
  std::size_t resealed = 0;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>&) -> Status {
    resealed = 0;
    FG_ASSIGN_OR_RETURN(auto rows,
                        tx.query("SELECT access_key_id, secret_access_key FROM access_keys"));
    for (const auto& row : rows) {
      const std::string id = row.text(0), stored = row.text(1);
      if (pki::SecretKeyring::sealedKeyId(stored) == deps_.secrets.currentKeyId()) continue;
      std::string secret = stored;
      if (pki::SecretKeyring::isSealed(stored)) {
        FG_ASSIGN_OR_RETURN(secret, deps_.secrets.open(stored, id));
      }
      FG_RETURN_IF_ERROR(tx.exec("UPDATE access_keys SET secret_access_key = ? WHERE access_key_id = ?",
                                 {deps_.secrets.seal(secret, id), id}));
      ++resealed;
    }
    return {};
  }));
  return resealed;
}

Result<std::vector<std::string>> sealedSecretKeyIds(store::Database& db) {
  std::vector<std::string> ids;
  FG_RETURN_IF_ERROR(db.read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT secret_access_key FROM access_keys"));
    for (const auto& row : rows) {
      std::string id(pki::SecretKeyring::sealedKeyId(row.text(0)));
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
    }
    return {};
  }));
  return ids;
}

Result<Account> Registry::account(std::string_view account_id) {
  std::optional<Account> found;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT account_id, region, endpoint_prefix FROM "
                                              "accounts WHERE account_id = ?",
                                              {std::string(account_id)}));
    if (row) found = accountFrom(*row);
    return {};
  }));
  if (!found) return internal::notFound("Account", account_id);
  return *found;
}

Result<std::vector<Account>> Registry::listAccounts() {
  std::vector<Account> accounts;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT account_id, region, endpoint_prefix FROM "
                                            "accounts ORDER BY account_id"));
    for (const auto& row : rows) accounts.push_back(accountFrom(row));
    return {};
  }));
  return accounts;
}

namespace {

// Every table that holds an account's resources (not the account or its keys).
constexpr const char* kAccountTables[] = {
    "thing_types",    "things",        "thing_groups",     "thing_group_members",
    "ca_certificates", "certificates", "policies",         "policy_versions",
    "policy_targets", "thing_principals", "provisioning_templates",
    "provisioning_template_versions", "topic_rules"};

Status deleteAccountResources(store::Transaction& tx, const std::string& account_id) {
  for (const char* table : kAccountTables) {
    FG_RETURN_IF_ERROR(
        tx.exec(std::string("DELETE FROM ") + table + " WHERE account_id = ?", {account_id}));
  }
  return {};
}

}  // namespace

Status Registry::resetAccount(std::string_view account_id) {
  FG_RETURN_IF_ERROR(account(account_id));
  std::string id(account_id);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_RETURN_IF_ERROR(deleteAccountResources(tx, id));
    FG_RETURN_IF_ERROR(
        tx.exec("UPDATE accounts SET registration_code = NULL WHERE account_id = ?", {id}));
    events.push_back({Event::Operation::kUpdated, EventResource::kAccount, id, id});
    return {};
  });
}

Status Registry::deleteAccount(std::string_view account_id) {
  FG_RETURN_IF_ERROR(account(account_id));
  std::string id(account_id);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_RETURN_IF_ERROR(deleteAccountResources(tx, id));
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM access_keys WHERE account_id = ?", {id}));
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM accounts WHERE account_id = ?", {id}));
    events.push_back({Event::Operation::kDeleted, EventResource::kAccount, id, id});
    return {};
  });
}

}  // namespace fleetgate::registry
