// Applying an evaluated provisioning template (spec §4.3, §7.4): JITP, RegisterThing and
// fleet provisioning all end here, in one write transaction.
#include <algorithm>
#include <set>

#include "common/encoding.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "registry/validation.h"

namespace fleetgate::registry {

namespace {

// Errors that say nothing about the template (the store or the service failed) keep their
// own name so that a client retries them; everything else is the template's fault.
bool keepsItsName(ErrorKind kind) {
  return kind == ErrorKind::kInternalFailure || kind == ErrorKind::kEnvironment ||
         kind == ErrorKind::kServiceUnavailable ||
         kind == ErrorKind::kThrottling || kind == ErrorKind::kConflictingResourceUpdate;
}

Error registrationFailure(Error error, const std::string& what) {
  if (keepsItsName(error.kind())) return error;
  std::string message = "Failed to provision " + what + ": " + error.message();
  return Error(ErrorKind::kResourceRegistrationFailure, std::move(message), error.cause());
}

Error failure(const std::string& message) {
  return Error(ErrorKind::kResourceRegistrationFailure, message);
}

#define FG_PROVISION_TRY(expr, what)                                              \
  do {                                                                            \
    auto fg_provision_status = (expr);                                            \
    if (!fg_provision_status.ok()) {                                              \
      return registrationFailure(std::move(fg_provision_status).error(), (what)); \
    }                                                                             \
  } while (0)

std::string describe(const std::string& kind, const std::string& logical,
                     const std::string& name = {}) {
  std::string out = kind + " resource " + logical;
  if (!name.empty()) out += " (" + name + ")";
  return out;
}

struct ExistingThing {
  std::optional<std::string> type_name;
  Attributes attributes;
};

Result<std::optional<ExistingThing>> loadExistingThing(store::Transaction& tx, const Account& a,
                                                       const std::string& name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne("SELECT type_name, attributes FROM things WHERE "
                                            "account_id = ? AND name = ?",
                                            {a.id, name}));
  if (!row) return std::optional<ExistingThing>();
  return std::optional<ExistingThing>(
      ExistingThing{row->optionalText(0), internal::decodeAttributes(row->text(1))});
}

Result<std::optional<std::string>> loadDefaultDocument(store::Transaction& tx, const Account& a,
                                                       const std::string& name) {
  FG_ASSIGN_OR_RETURN(auto row,
                      tx.queryOne("SELECT v.document FROM policies p JOIN policy_versions v ON "
                                  "v.account_id = p.account_id AND v.policy_name = p.name AND "
                                  "v.version_id = p.default_version WHERE p.account_id = ? AND "
                                  "p.name = ?",
                                  {a.id, name}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->text(0));
}

Attributes merged(Attributes current, const Attributes& update) {
  for (const auto& [k, v] : update) {
    if (v.empty()) {
      current.erase(k);
    } else {
      current[k] = v;
    }
  }
  return current;
}

}  // namespace

Result<ProvisioningOutcome> Registry::provision(
    const Account& a, const ProvisioningPlan& plan,
    const std::optional<CertificateToRegister>& register_first) {
  // Everything that needs no store happens before the transaction, so the write lock is held
  // only for the registry work (signing a CSR is the slow part).
  std::optional<pki::Certificate> first;
  if (register_first) first = register_first->certificate;
  std::optional<pki::Certificate> planned_cert;
  std::optional<pki::Certificate> planned_ca;
  std::string cert_what;
  if (plan.certificate) {
    const PlannedCertificate& pc = *plan.certificate;
    cert_what = describe("AWS::IoT::Certificate", pc.logical_name);
    if (pc.status != CertificateStatus::kActive && pc.status != CertificateStatus::kInactive) {
      return failure(cert_what + ": Status must be ACTIVE or INACTIVE.");
    }
    if (pc.status_override == OverrideSetting::kMerge) {
      return failure(cert_what + ": OverrideSettings Status cannot be MERGE.");
    }
    switch (pc.source) {
      case PlannedCertificate::Source::kId:
        FG_PROVISION_TRY(validateCertificateId(pc.value, "CertificateId"), cert_what);
        break;
      case PlannedCertificate::Source::kPem: {
        auto parsed = pki::Certificate::fromPem(pc.value);
        if (!parsed.ok()) return registrationFailure(std::move(parsed).error(), cert_what);
        planned_cert = std::move(parsed).value();
        if (pc.ca_pem) {
          auto ca = pki::Certificate::fromPem(*pc.ca_pem);
          if (!ca.ok()) return registrationFailure(std::move(ca).error(), cert_what);
          planned_ca = std::move(ca).value();
        }
        break;
      }
      case PlannedCertificate::Source::kCsr: {
        auto issued = deps_.device_issuer.issueForCsr(pc.value);
        if (!issued.ok()) return registrationFailure(std::move(issued).error(), cert_what);
        planned_cert = std::move(issued).value();
        break;
      }
    }
  }

  ProvisioningOutcome outcome;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    outcome = ProvisioningOutcome{};
    const TimePoint now = deps_.clock.now();

    // 1. The device certificate that triggered JITP, registered PENDING_ACTIVATION.
    std::optional<std::string> first_id;
    if (register_first) {
      const std::string what = "the device certificate";
      FG_PROVISION_TRY(validateCertificateId(register_first->ca_id, "caCertificateId"), what);
      auto ca = internal::loadCaCertificate(tx, a, register_first->ca_id);
      if (!ca.ok()) return std::move(ca).error();
      if (!*ca) return failure("CA certificate " + register_first->ca_id + " is not registered.");
      if (!(*ca)->active) {
        return failure("CA certificate " + register_first->ca_id + " is not ACTIVE.");
      }
      auto existing = internal::loadCertificateRecord(tx, a, first->id());
      if (!existing.ok()) return std::move(existing).error();
      if (!*existing) {
        auto ca_cert = pki::Certificate::fromPem((*ca)->pem);
        if (!ca_cert.ok()) return internalError("stored CA certificate does not parse");
        if (!first->isSignedBy(*ca_cert)) {
          return failure("The device certificate is not signed by CA certificate " +
                         register_first->ca_id + ".");
        }
        FG_PROVISION_TRY(pki::verifyChain(*first, {}, *ca_cert, now), what);
        FG_PROVISION_TRY(
            insertCertificateTx(tx, events, a, *first, CertificateStatus::kPendingActivation,
                                (*ca)->id, register_first->mode),
            what);
      }
      first_id = first->id();
    }

    // 2. The thing: created, or updated per its OverrideSettings.
    if (plan.thing) {
      const PlannedThing& t = *plan.thing;
      const std::string what = describe("AWS::IoT::Thing", t.logical_name, t.name);
      FG_PROVISION_TRY(validateThingName(t.name, "ThingName"), what);
      auto loaded = loadExistingThing(tx, a, t.name);
      if (!loaded.ok()) return std::move(loaded).error();
      if (t.billing_group) {
        // Billing groups are not modelled; none exists, so naming one cannot succeed.
        return registrationFailure(internal::notFound("Billing group", *t.billing_group), what);
      }
      if (!*loaded) {
        CreateThingInput create{t.name, t.type_name, t.attributes, std::nullopt};
        FG_PROVISION_TRY(createThingTx(tx, events, a, create), what);
        if (t.groups) {
          for (const auto& group : *t.groups) {
            FG_PROVISION_TRY(addThingToThingGroupTx(tx, events, a, group, t.name), what);
          }
        }
      } else {
        const ExistingThing& current = **loaded;
        auto refuse = [&](const char* property) {
          return failure(what + " already exists and OverrideSettings " + property + " is FAIL.");
        };
        UpdateThingInput update;
        update.name = t.name;
        bool changed = false;
        if (t.attributes) {
          switch (t.attributes_override) {
            case OverrideSetting::kDoNothing:
              break;
            case OverrideSetting::kFail:
              return refuse("AttributePayload");
            case OverrideSetting::kReplace:
            case OverrideSetting::kMerge: {
              bool merge = t.attributes_override == OverrideSetting::kMerge;
              Attributes target = merge ? merged(current.attributes, *t.attributes)
                                        : merged(Attributes{}, *t.attributes);
              if (target != current.attributes) {
                update.attributes = *t.attributes;
                update.merge = merge;
                changed = true;
              }
              break;
            }
          }
        }
        if (t.type_name) {
          switch (t.type_override) {
            case OverrideSetting::kDoNothing:
              break;
            case OverrideSetting::kFail:
              return refuse("ThingTypeName");
            case OverrideSetting::kMerge:
              return failure(what + ": OverrideSettings ThingTypeName cannot be MERGE.");
            case OverrideSetting::kReplace:
              if (current.type_name != t.type_name) {
                update.type_name = t.type_name;
                changed = true;
              }
              break;
          }
        }
        if (changed) FG_PROVISION_TRY(updateThingTx(tx, events, a, update), what);
        if (t.groups) {
          switch (t.groups_override) {
            case OverrideSetting::kDoNothing:
              break;
            case OverrideSetting::kFail:
              return refuse("ThingGroups");
            case OverrideSetting::kReplace: {
              auto rows = tx.query(
                  "SELECT group_name FROM thing_group_members WHERE "
                  "account_id = ? AND thing_name = ? ORDER BY group_name",
                  {a.id, t.name});
              if (!rows.ok()) return std::move(rows).error();
              std::set<std::string> wanted(t.groups->begin(), t.groups->end());
              for (const auto& row : *rows) {
                std::string group = row.text(0);
                if (wanted.contains(group)) continue;
                FG_PROVISION_TRY(removeThingFromThingGroupTx(tx, events, a, group, t.name), what);
              }
              [[fallthrough]];
            }
            case OverrideSetting::kMerge:
              for (const auto& group : *t.groups) {
                FG_PROVISION_TRY(addThingToThingGroupTx(tx, events, a, group, t.name), what);
              }
              break;
          }
        }
      }
      outcome.thing_name = t.name;
      outcome.resource_arns[t.logical_name] = a.arn("thing", t.name);
    }

    // 3. The certificate: found or registered, then given its status.
    std::optional<std::string> cert_id;
    if (plan.certificate) {
      const PlannedCertificate& pc = *plan.certificate;
      bool created = false;
      if (pc.source == PlannedCertificate::Source::kId) {
        cert_id = pc.value;
      } else {
        cert_id = planned_cert->id();
        auto existing = internal::loadCertificateRecord(tx, a, *cert_id);
        if (!existing.ok()) return std::move(existing).error();
        if (!*existing && pc.source == PlannedCertificate::Source::kCsr) {
          FG_PROVISION_TRY(insertCertificateTx(tx, events, a, *planned_cert, pc.status,
                                               std::nullopt, CertificateMode::kDefault),
                           cert_what);
          created = true;
        } else if (!*existing) {
          // A certificate whose issuer is a registered CA (or that names one) registers under
          // it; any other registers like RegisterCertificateWithoutCA.
          bool under_ca = planned_ca.has_value();
          if (!under_ca) {
            auto cas = internal::loadCaCertificatesBySubject(
                tx, a, hexEncode(planned_cert->issuerNameDer()));
            if (!cas.ok()) return std::move(cas).error();
            under_ca = !cas->empty();
          }
          if (under_ca) {
            FG_PROVISION_TRY(
                registerCertificateTx(tx, events, a, *planned_cert, planned_ca, pc.status),
                cert_what);
          } else {
            FG_PROVISION_TRY(
                registerCertificateWithoutCaTx(tx, events, a, *planned_cert, pc.status), cert_what);
          }
          created = true;
        }
      }
      if (!created) {
        auto existing = internal::loadCertificateRecord(tx, a, *cert_id);
        if (!existing.ok()) return std::move(existing).error();
        if (!*existing) {
          return registrationFailure(internal::notFound("Certificate", *cert_id), cert_what);
        }
        const CertificateStatus current = (*existing)->status;
        if (current == CertificateStatus::kRevoked) {
          return failure(cert_what + ": certificate " + *cert_id +
                         " is REVOKED and cannot be provisioned.");
        }
        if (current == CertificateStatus::kPendingTransfer) {
          return failure(cert_what + ": certificate " + *cert_id + " is PENDING_TRANSFER.");
        }
        // The certificate being provisioned (pending, or registered just now by JITP) always
        // takes the template's status; one that was already in use follows OverrideSettings.
        bool being_provisioned =
            current == CertificateStatus::kPendingActivation || cert_id == first_id;
        OverrideSetting setting =
            being_provisioned ? OverrideSetting::kReplace : pc.status_override;
        if (setting == OverrideSetting::kFail && current != pc.status) {
          return failure(cert_what + ": certificate " + *cert_id +
                         " already exists and OverrideSettings Status is FAIL.");
        }
        if (setting == OverrideSetting::kReplace) {
          FG_PROVISION_TRY(updateCertificateTx(tx, events, a, *cert_id, pc.status), cert_what);
        }
      }
      outcome.resource_arns[pc.logical_name] = a.arn("cert", *cert_id);
    }

    // 4. Policies: existing by name, or created from their document.
    for (const PlannedPolicy& p : plan.policies) {
      const std::string what = describe("AWS::IoT::Policy", p.logical_name, p.name);
      FG_PROVISION_TRY(validatePolicyName(p.name), what);
      auto document = loadDefaultDocument(tx, a, p.name);
      if (!document.ok()) return std::move(document).error();
      if (!p.document) {
        if (!*document) return registrationFailure(internal::notFound("Policy", p.name), what);
      } else if (!*document) {
        FG_PROVISION_TRY(createPolicyTx(tx, events, a, p.name, *p.document), what);
      } else if (**document != *p.document) {
        return failure(what + ": a policy of this name exists with a different document.");
      }
      outcome.resource_arns[p.logical_name] = a.arn("policy", p.name);
    }

    // 5. Attachments: every policy to the certificate, the certificate to the thing.
    if (cert_id) {
      const std::string cert_arn = a.arn("cert", *cert_id);
      for (const PlannedPolicy& p : plan.policies) {
        FG_PROVISION_TRY(attachPolicyTx(tx, events, a, p.name, cert_arn),
                         describe("AWS::IoT::Policy", p.logical_name, p.name));
      }
      if (plan.thing) {
        FG_PROVISION_TRY(attachThingPrincipalTx(tx, events, a, plan.thing->name, cert_arn,
                                                "NON_EXCLUSIVE_THING"),
                         describe("AWS::IoT::Thing", plan.thing->logical_name, plan.thing->name));
      }
      auto final_record = internal::loadCertificateRecord(tx, a, *cert_id);
      if (!final_record.ok()) return std::move(final_record).error();
      if (!*final_record) return internalError("provisioned certificate vanished");
      outcome.certificate = **final_record;
      outcome.certificate_pem = (*final_record)->pem;
    } else if (first_id) {
      auto final_record = internal::loadCertificateRecord(tx, a, *first_id);
      if (!final_record.ok()) return std::move(final_record).error();
      if (*final_record) {
        outcome.certificate = **final_record;
        outcome.certificate_pem = (*final_record)->pem;
      }
    }
    return {};
  }));
  return outcome;
}

#undef FG_PROVISION_TRY

}  // namespace fleetgate::registry
