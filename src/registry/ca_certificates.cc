// CA certificates and the registration code (spec §1.6, §2.2, §3).
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "pki/certificate.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "registry/validation.h"

namespace fleetgate::registry {

using internal::millis;
using internal::timeOf;

namespace {

constexpr std::size_t kMaxCasWithSameSubject = 10;

constexpr const char* kCaColumns =
    "account_id, id, pem, active, auto_registration, mode, registration_config, created_at, "
    "modified_at, customer_version, generation_id, not_before, not_after FROM ca_certificates";

std::optional<std::string> member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string encodeConfig(const RegistrationConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  if (c.template_body) j["templateBody"] = *c.template_body;
  if (c.role_arn) j["roleArn"] = *c.role_arn;
  if (c.template_name) j["templateName"] = *c.template_name;
  return j.dump();
}

RegistrationConfig decodeConfig(const std::optional<std::string>& text) {
  if (!text) return {};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return {};
  return RegistrationConfig{member(j, "templateBody"), member(j, "roleArn"),
                            member(j, "templateName")};
}

CaCertificate caFrom(const store::Row& row) {
  CaCertificate c;
  c.account_id = row.text(0);
  c.id = row.text(1);
  c.pem = row.text(2);
  c.active = row.integer(3) != 0;
  c.auto_registration = row.integer(4) != 0;
  c.mode = parseCertificateMode(row.text(5)).value_or(CertificateMode::kDefault);
  c.registration_config = decodeConfig(row.optionalText(6));
  c.creation_date = timeOf(row.integer(7));
  c.last_modified_date = timeOf(row.integer(8));
  c.customer_version = row.integer(9);
  c.generation_id = row.text(10);
  c.not_before = timeOf(row.integer(11));
  c.not_after = timeOf(row.integer(12));
  return c;
}

// A registration config names a JITP template, or carries a template body with a role.
Status validateConfig(store::Transaction& tx, const Account& a, const RegistrationConfig& c) {
  if (c.empty()) return {};
  if (c.template_name && (c.template_body || c.role_arn)) {
    return Error(ErrorKind::kInvalidRequest,
                 "registrationConfig takes either templateName or templateBody and roleArn.");
  }
  if (c.template_name) {
    FG_RETURN_IF_ERROR(validateTemplateName(*c.template_name));
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT type FROM provisioning_templates WHERE "
                                              "account_id = ? AND name = ?",
                                              {a.id, *c.template_name}));
    if (!row) return internal::notFound("Provisioning template", *c.template_name);
    if (row->text(0) != "JITP") {
      return Error(ErrorKind::kInvalidRequest,
                   "Provisioning template " + *c.template_name + " is not of type JITP.");
    }
    return {};
  }
  if (!c.template_body || !c.role_arn) {
    return Error(ErrorKind::kInvalidRequest,
                 "registrationConfig with templateBody also needs roleArn.");
  }
  FG_RETURN_IF_ERROR(internal::validateTemplateBody(*c.template_body));
  return internal::validateRoleArn(*c.role_arn, "roleArn");
}


}  // namespace

namespace internal {

Result<std::optional<CaCertificate>> loadCaCertificate(store::Transaction& tx, const Account& a,
                                                       std::string_view id) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kCaColumns +
                                                " WHERE account_id = ? AND id = ?",
                                            {a.id, std::string(id)}));
  if (!row) return std::optional<CaCertificate>();
  return std::optional<CaCertificate>(caFrom(*row));
}

Result<std::vector<CaCertificate>> loadCaCertificatesBySubject(store::Transaction& tx,
                                                               const Account& a,
                                                               const std::string& subject_hex) {
  FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kCaColumns +
                                              " WHERE account_id = ? AND subject_hex = ? ORDER "
                                              "BY created_at",
                                          {a.id, subject_hex}));
  std::vector<CaCertificate> out;
  for (const auto& row : rows) out.push_back(caFrom(row));
  return out;
}

}  // namespace internal

Result<std::string> Registry::getRegistrationCode(const Account& a) {
  std::string code;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>&) -> Status {
    FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT registration_code FROM accounts WHERE "
                                              "account_id = ?",
                                              {a.id}));
    if (!row) return internal::notFound("Account", a.id);
    if (!row->isNull(0)) {
      code = row->text(0);
      return {};
    }
    code = deps_.random.hex(32);
    FG_RETURN_IF_ERROR(tx.exec("UPDATE accounts SET registration_code = ? WHERE account_id = ?",
                               {code, a.id}));
    return {};
  }));
  return code;
}

Status Registry::deleteRegistrationCode(const Account& a) {
  return write([&](store::Transaction& tx, std::vector<Event>&) -> Status {
    FG_RETURN_IF_ERROR(
        tx.exec("UPDATE accounts SET registration_code = NULL WHERE account_id = ?", {a.id}));
    return {};
  });
}

Result<CaCertificate> Registry::registerCaCertificate(const Account& a,
                                                      const RegisterCaInput& input) {
  FG_ASSIGN_OR_RETURN(auto ca, pki::Certificate::fromPem(input.ca_pem));
  FG_RETURN_IF_ERROR(ca.checkAcceptable());
  if (!ca.isCa()) {
    return Error(ErrorKind::kCertificateValidation,
                 "The certificate is not a CA certificate (basicConstraints CA:TRUE is missing).");
  }
  const TimePoint now = deps_.clock.now();
  if (!ca.isValidAt(now)) {
    return Error(ErrorKind::kCertificateValidation,
                 "The CA certificate has expired or is not yet valid.");
  }
  std::optional<pki::Certificate> verification;
  const bool has_verification = input.verification_pem && !input.verification_pem->empty();
  if (input.mode == CertificateMode::kSniOnly && has_verification) {
    return Error(ErrorKind::kInvalidRequest,
                 "A CA registered in SNI_ONLY mode takes no verificationCertificate.");
  }
  if (input.mode == CertificateMode::kDefault) {
    if (!has_verification) {
      return Error(ErrorKind::kInvalidRequest,
                   "verificationCertificate is required to register a CA in DEFAULT mode.");
    }
    FG_ASSIGN_OR_RETURN(verification, pki::Certificate::fromPem(*input.verification_pem));
    if (!verification->isSignedBy(ca)) {
      return Error(ErrorKind::kCertificateValidation,
                   "The verification certificate is not signed by the CA certificate's key.");
    }
    if (!verification->isValidAt(now)) {
      return Error(ErrorKind::kCertificateValidation,
                   "The verification certificate has expired or is not yet valid.");
    }
  }

  CaCertificate record;
  record.account_id = a.id;
  record.id = ca.id();
  record.pem = ca.pem();
  record.active = input.set_active;
  record.auto_registration = input.allow_auto_registration;
  record.mode = input.mode;
  record.registration_config = input.registration_config;
  record.creation_date = record.last_modified_date = now;
  record.generation_id = deps_.random.uuid();
  record.not_before = ca.notBefore();
  record.not_after = ca.notAfter();
  const std::string subject_hex = hexEncode(ca.subjectNameDer());

  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    if (verification) {
      FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT registration_code FROM accounts WHERE "
                                                "account_id = ?",
                                                {a.id}));
      std::optional<std::string> code = row ? row->optionalText(0) : std::nullopt;
      if (!code || verification->subject().first("CN") != *code) {
        return Error(ErrorKind::kRegistrationCodeValidation,
                     "The verification certificate's common name does not match this account's "
                     "registration code.");
      }
    }
    FG_ASSIGN_OR_RETURN(auto existing, internal::loadCaCertificate(tx, a, record.id));
    if (existing) {
      return Error(ErrorKind::kResourceAlreadyExists, "The CA certificate is already registered")
          .withResource(record.id, a.arn("cacert", record.id));
    }
    if (record.mode == CertificateMode::kDefault) {
      FG_ASSIGN_OR_RETURN(auto elsewhere,
                          tx.queryOne("SELECT account_id FROM ca_certificates WHERE id = ? AND "
                                      "mode = 'DEFAULT' AND account_id <> ? LIMIT 1",
                                      {record.id, a.id}));
      if (elsewhere) {
        return Error(ErrorKind::kResourceAlreadyExists,
                     "The CA certificate is registered in DEFAULT mode by another account; "
                     "register it in SNI_ONLY mode.")
            .withResource(record.id, a.arn("cacert", record.id));
      }
    }
    FG_ASSIGN_OR_RETURN(auto same_subject,
                        internal::loadCaCertificatesBySubject(tx, a, subject_hex));
    if (same_subject.size() >= kMaxCasWithSameSubject) {
      return Error(ErrorKind::kLimitExceeded,
                   "At most 10 CA certificates with the same subject can be registered.");
    }
    FG_RETURN_IF_ERROR(validateConfig(tx, a, record.registration_config));
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO ca_certificates (account_id, id, pem, subject_hex, public_key_hex, active, "
        "auto_registration, mode, registration_config, created_at, modified_at, "
        "customer_version, generation_id, not_before, not_after) VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        {a.id, record.id, record.pem, subject_hex, hexEncode(ca.publicKeyDer()),
         std::int64_t{record.active}, std::int64_t{record.auto_registration},
         std::string(toString(record.mode)),
         record.registration_config.empty() ? store::Value(nullptr)
                                            : store::Value(encodeConfig(record.registration_config)),
         millis(now), millis(now), std::int64_t{1}, record.generation_id,
         millis(record.not_before), millis(record.not_after)}));
    events.push_back({Event::Operation::kCreated, EventResource::kCaCertificate, a.id, record.id});
    return {};
  }));
  return record;
}

Result<CaCertificate> Registry::describeCaCertificate(const Account& a, std::string_view id) {
  FG_RETURN_IF_ERROR(validateCertificateId(id, "caCertificateId"));
  std::optional<CaCertificate> ca;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(ca, internal::loadCaCertificate(tx, a, id));
    return {};
  }));
  if (!ca) return internal::notFound("CA certificate", id);
  return *ca;
}

Status Registry::updateCaCertificate(const Account& a, const UpdateCaInput& input) {
  FG_RETURN_IF_ERROR(validateCertificateId(input.id, "caCertificateId"));
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto ca, internal::loadCaCertificate(tx, a, input.id));
    if (!ca) return internal::notFound("CA certificate", input.id);
    if (input.active) ca->active = *input.active;
    if (input.auto_registration) ca->auto_registration = *input.auto_registration;
    if (input.remove_auto_registration) ca->auto_registration = false;
    if (input.registration_config) {
      FG_RETURN_IF_ERROR(validateConfig(tx, a, *input.registration_config));
      ca->registration_config = *input.registration_config;
    }
    FG_RETURN_IF_ERROR(tx.exec(
        "UPDATE ca_certificates SET active = ?, auto_registration = ?, registration_config = ?, "
        "modified_at = ?, customer_version = customer_version + 1, generation_id = ? WHERE "
        "account_id = ? AND id = ?",
        {std::int64_t{ca->active}, std::int64_t{ca->auto_registration},
         ca->registration_config.empty() ? store::Value(nullptr)
                                         : store::Value(encodeConfig(ca->registration_config)),
         millis(deps_.clock.now()), deps_.random.uuid(), a.id, input.id}));
    events.push_back({Event::Operation::kUpdated, EventResource::kCaCertificate, a.id, input.id});
    return {};
  });
}

Status Registry::deleteCaCertificate(const Account& a, std::string_view id) {
  FG_RETURN_IF_ERROR(validateCertificateId(id, "caCertificateId"));
  std::string ca_id(id);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto ca, internal::loadCaCertificate(tx, a, ca_id));
    if (!ca) return internal::notFound("CA certificate", ca_id);
    if (ca->active) {
      return Error(ErrorKind::kCertificateState,
                   "The CA certificate must be INACTIVE before it can be deleted. Id: " + ca_id);
    }
    FG_RETURN_IF_ERROR(
        tx.exec("DELETE FROM ca_certificates WHERE account_id = ? AND id = ?", {a.id, ca_id}));
    events.push_back({Event::Operation::kDeleted, EventResource::kCaCertificate, a.id, ca_id});
    return {};
  });
}

Result<Page<CaCertificate>> Registry::listCaCertificates(const Account& a,
                                                         std::optional<std::string> template_name,
                                                         const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string marker, internal::decodeToken(page.token));
  std::vector<CaCertificate> all;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows,
                        tx.query(std::string("SELECT ") + kCaColumns +
                                     " WHERE account_id = ? ORDER BY created_at " +
                                     (page.ascending ? "ASC, id ASC" : "DESC, id DESC"),
                                 {a.id}));
    for (const auto& row : rows) all.push_back(caFrom(row));
    return {};
  }));
  // A customer has few CAs; filtering and paging in memory keeps the SQL portable.
  std::optional<std::pair<std::int64_t, std::string>> after;
  if (!marker.empty()) {
    FG_ASSIGN_OR_RETURN(after, internal::parseCreationKey(marker));
  }
  std::vector<CaCertificate> selected;
  for (auto& ca : all) {
    if (after) {
      auto key = std::make_pair(millis(ca.creation_date), ca.id);
      if (page.ascending ? key <= *after : key >= *after) continue;
    }
    if (template_name && ca.registration_config.template_name != template_name) continue;
    selected.push_back(std::move(ca));
    if (static_cast<int>(selected.size()) > page.limit) break;
  }
  return internal::makePage(std::move(selected), page.limit, [](const CaCertificate& c) {
    return internal::creationKey(c.creation_date, c.id);
  });
}

Result<std::vector<CaCertificate>> Registry::caCertificatesWithSubject(
    const Account& a, std::string_view subject_der) {
  std::vector<CaCertificate> cas;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(cas, internal::loadCaCertificatesBySubject(tx, a, hexEncode(subject_der)));
    return {};
  }));
  return cas;
}

}  // namespace fleetgate::registry
