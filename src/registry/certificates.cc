// Device certificates (spec §1.5, §2.1).
#include <limits>

#include "common/encoding.h"
#include "pki/issuer.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "registry/validation.h"

namespace fleetgate::registry {

using internal::millis;
using internal::timeOf;

namespace {

constexpr const char* kCertificateColumns =
    "account_id, id, pem, status, ca_id, mode, created_at, modified_at, customer_version, "
    "generation_id, not_before, not_after FROM certificates";

Certificate certificateFrom(const store::Row& row) {
  Certificate c;
  c.account_id = row.text(0);
  c.id = row.text(1);
  c.pem = row.text(2);
  c.status = parseCertificateStatus(row.text(3)).value_or(CertificateStatus::kInactive);
  c.ca_id = row.optionalText(4);
  c.mode = parseCertificateMode(row.text(5)).value_or(CertificateMode::kDefault);
  c.creation_date = timeOf(row.integer(6));
  c.last_modified_date = timeOf(row.integer(7));
  c.customer_version = row.integer(8);
  c.generation_id = row.text(9);
  c.not_before = timeOf(row.integer(10));
  c.not_after = timeOf(row.integer(11));
  return c;
}

Result<std::optional<Certificate>> loadCertificate(store::Transaction& tx, const Account& a,
                                                   std::string_view id) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kCertificateColumns +
                                                " WHERE account_id = ? AND id = ?",
                                            {a.id, std::string(id)}));
  if (!row) return std::optional<Certificate>();
  return std::optional<Certificate>(certificateFrom(*row));
}

}  // namespace

namespace internal {

Result<std::optional<Certificate>> loadCertificateRecord(store::Transaction& tx, const Account& a,
                                                         std::string_view id) {
  return loadCertificate(tx, a, id);
}

}  // namespace internal

Result<Certificate> Registry::insertCertificate(const Account& a, const pki::Certificate& cert,
                                                CertificateStatus status,
                                                std::optional<std::string> ca_id,
                                                CertificateMode mode) {
  Certificate record;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(record, insertCertificateTx(tx, events, a, cert, status, ca_id, mode));
    return {};
  }));
  return record;
}

Result<Certificate> Registry::insertCertificateTx(store::Transaction& tx,
                                                  std::vector<Event>& events, const Account& a,
                                                  const pki::Certificate& cert,
                                                  CertificateStatus status,
                                                  std::optional<std::string> ca_id,
                                                  CertificateMode mode) {
  TimePoint now = deps_.clock.now();
  Certificate record{a.id,   cert.id(), cert.pem(),        status,
                     ca_id,  mode,      now,               now,
                     1,      deps_.random.uuid(), cert.notBefore(), cert.notAfter()};
  FG_ASSIGN_OR_RETURN(auto existing, tx.queryOne("SELECT 1 FROM certificates WHERE account_id "
                                                 "= ? AND id = ?",
                                                 {a.id, record.id}));
  if (existing) {
    return Error(ErrorKind::kResourceAlreadyExists,
                 "The certificate is already provisioned or registered")
        .withResource(record.id, a.arn("cert", record.id));
  }
  FG_RETURN_IF_ERROR(tx.exec(
      "INSERT INTO certificates (account_id, id, pem, status, ca_id, mode, created_at, "
      "modified_at, customer_version, generation_id, not_before, not_after) VALUES "
      "(?,?,?,?,?,?,?,?,?,?,?,?)",
      {a.id, record.id, record.pem, std::string(toString(status)),
       ca_id ? store::Value(*ca_id) : nullptr, std::string(toString(mode)), millis(now),
       millis(now), std::int64_t{1}, record.generation_id, millis(record.not_before),
       millis(record.not_after)}));
  events.push_back({Event::Operation::kCreated, EventResource::kCertificate, a.id, record.id});
  return record;
}

Result<IssuedCertificate> Registry::createKeysAndCertificate(const Account& a, bool set_active) {
  FG_ASSIGN_OR_RETURN(pki::PrivateKey key, deps_.key_pool.take());
  pki::IssueRequest request;
  request.public_key_der = key.publicKeyDer();
  FG_ASSIGN_OR_RETURN(pki::Certificate cert, deps_.device_issuer.issue(request));
  FG_ASSIGN_OR_RETURN(
      Certificate record,
      insertCertificate(a, cert, set_active ? CertificateStatus::kActive : CertificateStatus::kInactive,
                        std::nullopt, CertificateMode::kDefault));
  return IssuedCertificate{std::move(record), key.privateKeyPem(), key.publicKeyPem()};
}

Result<Certificate> Registry::createCertificateFromCsr(const Account& a, std::string_view csr_pem,
                                                       bool set_active) {
  FG_ASSIGN_OR_RETURN(pki::Certificate cert, deps_.device_issuer.issueForCsr(csr_pem));
  return insertCertificate(
      a, cert, set_active ? CertificateStatus::kActive : CertificateStatus::kInactive,
      std::nullopt, CertificateMode::kDefault);
}

namespace {

Status checkRegistrableStatus(CertificateStatus status) {
  if (status == CertificateStatus::kActive || status == CertificateStatus::kInactive ||
      status == CertificateStatus::kRevoked) {
    return {};
  }
  return Error(ErrorKind::kInvalidRequest,
               "A certificate can only be registered as ACTIVE, INACTIVE or REVOKED.");
}

}  // namespace

Result<Certificate> Registry::registerCertificate(const Account& a, std::string_view pem,
                                                  std::optional<std::string_view> ca_pem,
                                                  CertificateStatus status) {
  FG_RETURN_IF_ERROR(checkRegistrableStatus(status));
  FG_ASSIGN_OR_RETURN(auto cert, pki::Certificate::fromPem(pem));
  FG_RETURN_IF_ERROR(cert.checkAcceptable());
  std::optional<pki::Certificate> named;
  if (ca_pem) {
    FG_ASSIGN_OR_RETURN(named, pki::Certificate::fromPem(*ca_pem));
  }
  Certificate record;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(record, registerCertificateTx(tx, events, a, cert, named, status));
    return {};
  }));
  return record;
}

Result<Certificate> Registry::registerCertificateTx(store::Transaction& tx,
                                                    std::vector<Event>& events, const Account& a,
                                                    const pki::Certificate& cert,
                                                    const std::optional<pki::Certificate>& named,
                                                    CertificateStatus status) {
  // Candidate issuers: the account's CAs whose subject is the certificate's issuer, or the one
  // the caller named.
  std::vector<CaCertificate> candidates;
  if (named) {
    FG_ASSIGN_OR_RETURN(auto ca, internal::loadCaCertificate(tx, a, named->id()));
    if (!ca) {
      return Error(ErrorKind::kCertificateValidation,
                   "The CA certificate is not registered in this account.");
    }
    candidates.push_back(std::move(*ca));
  } else {
    FG_ASSIGN_OR_RETURN(candidates, internal::loadCaCertificatesBySubject(
                                        tx, a, hexEncode(cert.issuerNameDer())));
  }
  if (candidates.empty()) {
    return Error(ErrorKind::kCertificateValidation,
                 "The certificate is not signed by a CA registered in this account; register the "
                 "CA first or use RegisterCertificateWithoutCA.");
  }
  std::vector<pki::Certificate> ca_certs;
  for (const CaCertificate& ca : candidates) {
    FG_ASSIGN_OR_RETURN(auto parsed, pki::Certificate::fromPem(ca.pem));
    ca_certs.push_back(std::move(parsed));
  }
  // Registered CAs that share subject and key cannot be told apart (spec §3.4).
  for (std::size_t i = 0; i < ca_certs.size(); ++i) {
    for (std::size_t j = i + 1; j < ca_certs.size(); ++j) {
      if (ca_certs[i].publicKeyDer() == ca_certs[j].publicKeyDer()) {
        return Error(ErrorKind::kCertificateConflict,
                     "More than one registered CA certificate has this subject and public key.");
      }
    }
  }
  const TimePoint now = deps_.clock.now();
  std::optional<Error> last_error;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const CaCertificate& ca = candidates[i];
    const pki::Certificate& ca_cert = ca_certs[i];
    if (!cert.isSignedBy(ca_cert)) continue;
    if (!ca.active) {
      return Error(ErrorKind::kCertificateState,
                   "The CA certificate " + ca.id + " is not ACTIVE.");
    }
    Status chain = pki::verifyChain(cert, {}, ca_cert, now);
    if (!chain.ok()) {
      last_error = std::move(chain).error();
      continue;
    }
    return insertCertificateTx(tx, events, a, cert, status, ca.id, ca.mode);
  }
  if (last_error) return std::move(*last_error);
  return Error(ErrorKind::kCertificateValidation,
               "The certificate is not signed by the registered CA certificate.");
}

Result<Certificate> Registry::registerCertificateWithoutCa(const Account& a, std::string_view pem,
                                                           CertificateStatus status) {
  FG_RETURN_IF_ERROR(checkRegistrableStatus(status));
  FG_ASSIGN_OR_RETURN(auto cert, pki::Certificate::fromPem(pem));
  Certificate record;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(record, registerCertificateWithoutCaTx(tx, events, a, cert, status));
    return {};
  }));
  return record;
}

Result<Certificate> Registry::registerCertificateWithoutCaTx(store::Transaction& tx,
                                                             std::vector<Event>& events,
                                                             const Account& a,
                                                             const pki::Certificate& cert,
                                                             CertificateStatus status) {
  FG_RETURN_IF_ERROR(cert.checkAcceptable());
  if (cert.notAfter() < deps_.clock.now()) {
    return Error(ErrorKind::kCertificateValidation, "The certificate has expired.");
  }
  return insertCertificateTx(tx, events, a, cert, status, std::nullopt, CertificateMode::kSniOnly);
}

Result<Certificate> Registry::describeCertificate(const Account& a, std::string_view id) {
  FG_RETURN_IF_ERROR(validateCertificateId(id));
  std::optional<Certificate> cert;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(cert, loadCertificate(tx, a, id));
    return {};
  }));
  if (!cert) return internal::notFound("Certificate", id);
  return *cert;
}

Status Registry::updateCertificate(const Account& a, std::string_view id,
                                   CertificateStatus status) {
  FG_RETURN_IF_ERROR(validateCertificateId(id));
  if (status != CertificateStatus::kActive && status != CertificateStatus::kInactive &&
      status != CertificateStatus::kRevoked) {
    return Error(ErrorKind::kInvalidRequest,
                 "newStatus " + std::string(toString(status)) + " cannot be set by a caller.");
  }
  std::string cert_id(id);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    return updateCertificateTx(tx, events, a, cert_id, status);
  });
}

Status Registry::updateCertificateTx(store::Transaction& tx, std::vector<Event>& events,
                                     const Account& a, const std::string& cert_id,
                                     CertificateStatus status) {
  FG_ASSIGN_OR_RETURN(auto cert, loadCertificate(tx, a, cert_id));
  if (!cert) return internal::notFound("Certificate", cert_id);
  if (cert->status == status) return {};  // idempotent
  if (cert->status == CertificateStatus::kRevoked) {
    return Error(ErrorKind::kCertificateState,
                 "Certificate " + cert_id + " is REVOKED and cannot change status.");
  }
  if (cert->status == CertificateStatus::kPendingTransfer) {
    return Error(ErrorKind::kCertificateState,
                 "Certificate " + cert_id + " is PENDING_TRANSFER.");
  }
  FG_RETURN_IF_ERROR(tx.exec(
      "UPDATE certificates SET status = ?, modified_at = ?, customer_version = "
      "customer_version + 1, generation_id = ? WHERE account_id = ? AND id = ?",
      {std::string(toString(status)), millis(deps_.clock.now()), deps_.random.uuid(), a.id,
       cert_id}));
  events.push_back({Event::Operation::kUpdated, EventResource::kCertificate, a.id, cert_id});
  return {};
}

Status Registry::deleteCertificate(const Account& a, std::string_view id, bool force) {
  FG_RETURN_IF_ERROR(validateCertificateId(id));
  std::string cert_id(id);
  std::string arn = a.arn("cert", cert_id);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto cert, loadCertificate(tx, a, cert_id));
    if (!cert) return internal::notFound("Certificate", cert_id);
    if (cert->status == CertificateStatus::kActive) {
      return Error(ErrorKind::kCertificateState,
                   "Certificate must be deactivated (not ACTIVE) before deletion. Id: " + cert_id);
    }
    if (cert->status == CertificateStatus::kPendingTransfer) {
      return Error(ErrorKind::kCertificateState,
                   "Certificate is PENDING_TRANSFER and cannot be deleted. Id: " + cert_id);
    }
    FG_ASSIGN_OR_RETURN(auto thing, tx.queryOne("SELECT 1 FROM thing_principals WHERE account_id "
                                                "= ? AND principal = ? LIMIT 1",
                                                {a.id, arn}));
    if (thing) {
      return Error(ErrorKind::kDeleteConflict,
                   "Things must be detached before deletion (arn: " + arn + ")");
    }
    FG_ASSIGN_OR_RETURN(auto policy, tx.queryOne("SELECT 1 FROM policy_targets WHERE account_id "
                                                 "= ? AND target = ? LIMIT 1",
                                                 {a.id, arn}));
    if (policy && !force) {
      return Error(ErrorKind::kDeleteConflict,
                   "Certificate policies must be detached before deletion (arn: " + arn + ")");
    }
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM policy_targets WHERE account_id = ? AND target = ?",
                               {a.id, arn}));
    FG_RETURN_IF_ERROR(
        tx.exec("DELETE FROM certificates WHERE account_id = ? AND id = ?", {a.id, cert_id}));
    events.push_back({Event::Operation::kDeleted, EventResource::kCertificate, a.id, cert_id});
    return {};
  });
}

Result<Page<Certificate>> Registry::listCertificates(const Account& a,
                                                     std::optional<std::string> ca_id,
                                                     const PageRequest& page) {
  if (ca_id) FG_RETURN_IF_ERROR(validateCertificateId(*ca_id, "caCertificateId"));
  FG_ASSIGN_OR_RETURN(std::string marker, internal::decodeToken(page.token));
  std::int64_t after_time = page.ascending ? -1 : std::numeric_limits<std::int64_t>::max();
  std::string after_id = page.ascending ? "" : "\x7f";
  if (!marker.empty()) {
    FG_ASSIGN_OR_RETURN(auto key, internal::parseCreationKey(marker));
    after_time = key.first;
    after_id = key.second;
  }
  std::vector<Certificate> certs;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    std::string sql = std::string("SELECT ") + kCertificateColumns +
                      " WHERE account_id = ? AND (? IS NULL OR ca_id = ?) AND " +
                      (page.ascending ? "(created_at, id) > (?, ?) ORDER BY created_at, id"
                                      : "(created_at, id) < (?, ?) ORDER BY created_at DESC, id "
                                        "DESC") +
                      " LIMIT ?";
    store::Value ca = ca_id ? store::Value(*ca_id) : nullptr;
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(sql, {a.id, ca, ca, after_time, after_id,
                                                  std::int64_t{page.limit + 1}}));
    for (const auto& row : rows) certs.push_back(certificateFrom(row));
    return {};
  }));
  return internal::makePage(std::move(certs), page.limit, [](const Certificate& c) {
    return internal::creationKey(c.creation_date, c.id);
  });
}

Result<std::vector<Certificate>> Registry::findCertificateEverywhere(std::string_view id) {
  std::vector<Certificate> certs;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kCertificateColumns +
                                                " WHERE id = ?",
                                            {std::string(id)}));
    for (const auto& row : rows) certs.push_back(certificateFrom(row));
    return {};
  }));
  return certs;
}

}  // namespace fleetgate::registry
