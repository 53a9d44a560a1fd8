// Device certificates, CA certificates and the registration code (spec §1.5, §1.6).
#include "api/routes.h"

namespace fleetgate::api {

using registry::Registry;

namespace {

Json validityJson(TimePoint not_before, TimePoint not_after) {
  return Json{{"notBefore", toEpochSeconds(not_before)}, {"notAfter", toEpochSeconds(not_after)}};
}

Json certificateDescription(const registry::Account& a, const registry::Certificate& c) {
  Json j{{"certificateArn", a.arn("cert", c.id)},
         {"certificateId", c.id},
         {"status", registry::toString(c.status)},
         {"certificatePem", c.pem},
         {"ownedBy", a.id},
         {"creationDate", toEpochSeconds(c.creation_date)},
         {"lastModifiedDate", toEpochSeconds(c.last_modified_date)},
         {"customerVersion", c.customer_version},
         {"transferData", Json::object()},
         {"generationId", c.generation_id},
         {"validity", validityJson(c.not_before, c.not_after)},
         {"certificateMode", registry::toString(c.mode)}};
  if (c.ca_id) j["caCertificateId"] = *c.ca_id;
  return j;
}

Json certificateSummary(const registry::Account& a, const registry::Certificate& c) {
  return Json{{"certificateArn", a.arn("cert", c.id)},
              {"certificateId", c.id},
              {"status", registry::toString(c.status)},
              {"certificateMode", registry::toString(c.mode)},
              {"creationDate", toEpochSeconds(c.creation_date)}};
}

Json caDescription(const registry::Account& a, const registry::CaCertificate& c) {
  return Json{{"certificateArn", a.arn("cacert", c.id)},
              {"certificateId", c.id},
              {"status", c.active ? "ACTIVE" : "INACTIVE"},
              {"certificatePem", c.pem},
              {"ownedBy", a.id},
              {"creationDate", toEpochSeconds(c.creation_date)},
              {"autoRegistrationStatus", c.auto_registration ? "ENABLE" : "DISABLE"},
              {"lastModifiedDate", toEpochSeconds(c.last_modified_date)},
              {"customerVersion", c.customer_version},
              {"generationId", c.generation_id},
              {"validity", validityJson(c.not_before, c.not_after)},
              {"certificateMode", registry::toString(c.mode)}};
}

Json registrationConfigJson(const registry::RegistrationConfig& c) {
  Json j = Json::object();
  if (c.template_body) j["templateBody"] = *c.template_body;
  if (c.role_arn) j["roleArn"] = *c.role_arn;
  if (c.template_name) j["templateName"] = *c.template_name;
  return j;
}

Result<registry::RegistrationConfig> registrationConfigOf(const Json& j) {
  registry::RegistrationConfig c;
  for (const auto& [key, target] :
       {std::pair{"templateBody", &c.template_body}, std::pair{"roleArn", &c.role_arn},
        std::pair{"templateName", &c.template_name}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) {
      return Error(ErrorKind::kInvalidRequest,
                   std::string("registrationConfig.") + key + " must be a string.");
    }
    *target = it->get<std::string>();
  }
  return c;
}

Result<registry::CertificateStatus> statusOf(ApiRequest& r) {
  FG_ASSIGN_OR_RETURN(auto status, r.bodyString("status"));
  FG_ASSIGN_OR_RETURN(auto set_active, r.queryBool("setAsActive"));
  if (!status) {
    return set_active.value_or(false) ? registry::CertificateStatus::kActive
                                      : registry::CertificateStatus::kInactive;
  }
  auto parsed = registry::parseCertificateStatus(*status);
  if (!parsed) return Error(ErrorKind::kInvalidRequest, "status " + *status + " is not valid.");
  return *parsed;
}

Json createdCertificate(const registry::Account& a, const registry::Certificate& c) {
  return Json{{"certificateArn", a.arn("cert", c.id)}, {"certificateId", c.id}};
}

}  // namespace

void addCertificateRoutes(Router& router, Registry& registry) {
  router.add("POST", "/keys-and-certificate", "CreateKeysAndCertificate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto active, r.queryBool("setAsActive"));
               FG_ASSIGN_OR_RETURN(auto issued, registry.createKeysAndCertificate(
                                                    r.account(), active.value_or(false)));
               Json j = createdCertificate(r.account(), issued.certificate);
               j["certificatePem"] = issued.certificate.pem;
               j["keyPair"] = {{"PublicKey", *issued.public_key_pem},
                               {"PrivateKey", *issued.private_key_pem}};
               return j;
             });
  router.add("POST", "/certificates", "CreateCertificateFromCsr",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto active, r.queryBool("setAsActive"));
               FG_ASSIGN_OR_RETURN(auto csr, r.requiredBodyString("certificateSigningRequest"));
               FG_ASSIGN_OR_RETURN(auto cert, registry.createCertificateFromCsr(
                                                  r.account(), csr, active.value_or(false)));
               Json j = createdCertificate(r.account(), cert);
               j["certificatePem"] = cert.pem;
               return j;
             });
  router.add("POST", "/certificate/register", "RegisterCertificate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto pem, r.requiredBodyString("certificatePem"));
               FG_ASSIGN_OR_RETURN(auto ca_pem, r.bodyString("caCertificatePem"));
               FG_ASSIGN_OR_RETURN(auto status, statusOf(r));
               std::optional<std::string_view> ca;
               if (ca_pem) ca = *ca_pem;
               FG_ASSIGN_OR_RETURN(auto cert,
                                   registry.registerCertificate(r.account(), pem, ca, status));
               return createdCertificate(r.account(), cert);
             });
  router.add("POST", "/certificate/register-no-ca", "RegisterCertificateWithoutCA",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto pem, r.requiredBodyString("certificatePem"));
               FG_ASSIGN_OR_RETURN(auto status, statusOf(r));
               FG_ASSIGN_OR_RETURN(auto cert,
                                   registry.registerCertificateWithoutCa(r.account(), pem, status));
               return createdCertificate(r.account(), cert);
             });
  router.add("GET", "/certificates/{certificateId}", "DescribeCertificate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto cert, registry.describeCertificate(
                                                  r.account(), r.path("certificateId")));
               return Json{{"certificateDescription", certificateDescription(r.account(), cert)}};
             });
  router.add("PUT", "/certificates/{certificateId}", "UpdateCertificate",
             [&](ApiRequest& r) -> Result<Json> {
               auto new_status = r.query("newStatus");
               if (!new_status) {
                 return Error(ErrorKind::kInvalidRequest, "newStatus is required.");
               }
               auto status = registry::parseCertificateStatus(*new_status);
               if (!status) {
                 return Error(ErrorKind::kInvalidRequest,
                              "newStatus " + *new_status + " is not a certificate status.");
               }
               FG_RETURN_IF_ERROR(
                   registry.updateCertificate(r.account(), r.path("certificateId"), *status));
               return Json();
             });
  router.add("DELETE", "/certificates/{certificateId}", "DeleteCertificate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto force, r.queryBool("forceDelete"));
               FG_RETURN_IF_ERROR(registry.deleteCertificate(r.account(), r.path("certificateId"),
                                                             force.value_or(false)));
               return Json();
             });
  auto list = [&](ApiRequest& r, std::optional<std::string> ca_id) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto page, r.page("marker", "pageSize", 25));
    FG_ASSIGN_OR_RETURN(auto certs, registry.listCertificates(r.account(), ca_id, page));
    Json items = Json::array();
    for (const auto& c : certs.items) items.push_back(certificateSummary(r.account(), c));
    return withToken(Json{{"certificates", items}}, certs, "nextMarker");
  };
  router.add("GET", "/certificates", "ListCertificates",
             [list](ApiRequest& r) { return list(r, std::nullopt); });
  router.add("GET", "/certificates-by-ca/{caCertificateId}", "ListCertificatesByCA",
             [list](ApiRequest& r) { return list(r, r.path("caCertificateId")); });

  router.add("GET", "/registrationcode", "GetRegistrationCode", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto code, registry.getRegistrationCode(r.account()));
    return Json{{"registrationCode", code}};
  });
  router.add("DELETE", "/registrationcode", "DeleteRegistrationCode",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(registry.deleteRegistrationCode(r.account()));
               return Json();
             });
  router.add("POST", "/cacertificate", "RegisterCACertificate", [&](ApiRequest& r) -> Result<Json> {
    registry::RegisterCaInput input;
    FG_ASSIGN_OR_RETURN(input.ca_pem, r.requiredBodyString("caCertificate"));
    FG_ASSIGN_OR_RETURN(input.verification_pem, r.bodyString("verificationCertificate"));
    FG_ASSIGN_OR_RETURN(auto active, r.queryBool("setAsActive"));
    FG_ASSIGN_OR_RETURN(auto auto_registration, r.queryBool("allowAutoRegistration"));
    input.set_active = active.value_or(false);
    input.allow_auto_registration = auto_registration.value_or(false);
    FG_ASSIGN_OR_RETURN(auto mode, r.bodyString("certificateMode"));
    if (mode) {
      auto parsed = registry::parseCertificateMode(*mode);
      if (!parsed) {
        return Error(ErrorKind::kInvalidRequest, "certificateMode must be DEFAULT or SNI_ONLY.");
      }
      input.mode = *parsed;
    }
    FG_ASSIGN_OR_RETURN(auto config, r.bodyObject("registrationConfig"));
    if (config) {
      FG_ASSIGN_OR_RETURN(input.registration_config, registrationConfigOf(*config));
    }
    FG_ASSIGN_OR_RETURN(auto ca, registry.registerCaCertificate(r.account(), input));
    return Json{{"certificateArn", r.account().arn("cacert", ca.id)}, {"certificateId", ca.id}};
  });
  router.add("GET", "/cacertificate/{caCertificateId}", "DescribeCACertificate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto ca, registry.describeCaCertificate(
                                                r.account(), r.path("caCertificateId")));
               Json j{{"certificateDescription", caDescription(r.account(), ca)}};
               if (!ca.registration_config.empty()) {
                 j["registrationConfig"] = registrationConfigJson(ca.registration_config);
               }
               return j;
             });
  router.add("PUT", "/cacertificate/{caCertificateId}", "UpdateCACertificate",
             [&](ApiRequest& r) -> Result<Json> {
               registry::UpdateCaInput input;
               input.id = r.path("caCertificateId");
               if (auto status = r.query("newStatus")) {
                 if (*status != "ACTIVE" && *status != "INACTIVE") {
                   return Error(ErrorKind::kInvalidRequest,
                                "newStatus must be ACTIVE or INACTIVE.");
                 }
                 input.active = *status == "ACTIVE";
               }
               if (auto status = r.query("newAutoRegistrationStatus")) {
                 if (*status != "ENABLE" && *status != "DISABLE") {
                   return Error(ErrorKind::kInvalidRequest,
                                "newAutoRegistrationStatus must be ENABLE or DISABLE.");
                 }
                 input.auto_registration = *status == "ENABLE";
               }
               FG_ASSIGN_OR_RETURN(auto config, r.bodyObject("registrationConfig"));
               if (config) {
                 FG_ASSIGN_OR_RETURN(input.registration_config, registrationConfigOf(*config));
               }
               FG_ASSIGN_OR_RETURN(auto remove, r.bodyBool("removeAutoRegistration"));
               input.remove_auto_registration = remove.value_or(false);
               FG_RETURN_IF_ERROR(registry.updateCaCertificate(r.account(), input));
               return Json();
             });
  router.add("DELETE", "/cacertificate/{caCertificateId}", "DeleteCACertificate",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(
                   registry.deleteCaCertificate(r.account(), r.path("caCertificateId")));
               return Json();
             });
  router.add("GET", "/cacertificates", "ListCACertificates", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto page, r.page("marker", "pageSize", 25));
    FG_ASSIGN_OR_RETURN(auto cas, registry.listCaCertificates(r.account(),
                                                              r.query("templateName"), page));
    Json items = Json::array();
    for (const auto& c : cas.items) {
      items.push_back({{"certificateArn", r.account().arn("cacert", c.id)},
                       {"certificateId", c.id},
                       {"status", c.active ? "ACTIVE" : "INACTIVE"},
                       {"creationDate", toEpochSeconds(c.creation_date)}});
    }
    return withToken(Json{{"certificates", items}}, cas, "nextMarker");
  });
}

}  // namespace fleetgate::api
