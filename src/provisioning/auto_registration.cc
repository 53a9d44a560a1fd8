#include "provisioning/auto_registration.h"

#include "pki/certificate.h"
#include "provisioning/template.h"

namespace fleetgate::provisioning {
namespace {

using Outcome = AutoRegistration::Outcome;

AutoRegistration refused(Outcome outcome, std::string detail) {
  AutoRegistration r;
  r.outcome = outcome;
  r.detail = std::move(detail);
  return r;
}

// The registered CA that signed `leaf`, among those with its issuer's subject. A CA certificate
// the device sent must be that one: a look-alike with a copied subject is not.
struct Issuer {
  registry::CaCertificate record;
  pki::Certificate certificate;
};

std::optional<Issuer> findIssuer(const std::vector<registry::CaCertificate>& candidates,
                                 const pki::Certificate& leaf,
                                 const std::optional<pki::Certificate>& sent_ca) {
  for (const registry::CaCertificate& ca : candidates) {
    if (sent_ca && sent_ca->id() != ca.id) continue;
    auto parsed = pki::Certificate::fromPem(ca.pem);
    if (parsed.ok() && leaf.isSignedBy(*parsed)) return Issuer{ca, std::move(*parsed)};
  }
  return std::nullopt;
}

}  // namespace

std::map<std::string, std::string> certificateParameters(const pki::Certificate& certificate) {
  static constexpr std::pair<const char*, const char*> kSubjectParameters[] = {
      {"AWS::IoT::Certificate::Country", "C"},
      {"AWS::IoT::Certificate::Organization", "O"},
      {"AWS::IoT::Certificate::OrganizationalUnit", "OU"},
      {"AWS::IoT::Certificate::DistinguishedNameQualifier", "dnQualifier"},
      {"AWS::IoT::Certificate::StateName", "ST"},
      {"AWS::IoT::Certificate::CommonName", "CN"},
      // The current developer guide reads every built-in from the subject (spec §4.2).
      {"AWS::IoT::Certificate::SerialNumber", "serialNumber"},
  };
  std::map<std::string, std::string> parameters;
  const pki::DistinguishedName subject = certificate.subject();
  for (const auto& [parameter, attribute] : kSubjectParameters) {
    if (auto value = subject.first(attribute)) parameters[parameter] = *value;
  }
  parameters["AWS::IoT::Certificate::Id"] = certificate.id();
  return parameters;
}

AutoRegistrar::AutoRegistrar(registry::Registry& registry, const Clock& clock)
    : registry_(registry), clock_(clock) {}

AutoRegistration AutoRegistrar::run(const UnknownDevice& device) {
  if (device.chain_der.empty()) return refused(Outcome::kNotEligible, "no client certificate");
  auto leaf = pki::Certificate::fromDer(device.chain_der.front());
  if (!leaf.ok()) return refused(Outcome::kNotEligible, leaf.error().message());
  const std::string key = device.account.id + "/" + leaf->id();
  std::shared_ptr<Flight> flight;
  {
    std::unique_lock lock(mutex_);
    auto it = flights_.find(key);
    if (it != flights_.end()) {
      // A first connect of the same device is already registering it: share its result.
      std::shared_ptr<Flight> joined = it->second;
      landed_.wait(lock, [&] { return joined->done; });
      AutoRegistration result = joined->result;
      result.shared = true;
      return result;
    }
    flight = std::make_shared<Flight>();
    flights_.emplace(key, flight);
  }
  AutoRegistration result = attempt(device, *leaf);
  {
    std::lock_guard lock(mutex_);
    flight->result = result;
    flight->done = true;
    flights_.erase(key);
  }
  landed_.notify_all();
  return result;
}

AutoRegistration AutoRegistrar::attempt(const UnknownDevice& device,
                                        const pki::Certificate& leaf) {
  if (leaf.isCa()) return refused(Outcome::kNotEligible, "the client certificate is a CA");
  std::optional<pki::Certificate> sent_ca;
  if (device.chain_der.size() > 1) {
    auto parsed = pki::Certificate::fromDer(device.chain_der[1]);
    if (!parsed.ok()) return refused(Outcome::kNotEligible, parsed.error().message());
    sent_ca = std::move(*parsed);
  }
  // spec §4.3: the CA certificate may be left out of the chain only when the device sends SNI.
  if (!sent_ca && !device.sent_server_name) {
    return refused(Outcome::kNotEligible, "the device sent neither its CA certificate nor SNI");
  }
  auto candidates = registry_.caCertificatesWithSubject(device.account, leaf.issuerNameDer());
  if (!candidates.ok()) return refused(Outcome::kFailed, candidates.error().message());
  auto issuer = findIssuer(*candidates, leaf, sent_ca);
  if (!issuer) {
    return refused(Outcome::kNotEligible,
                   "the certificate was not issued by a CA certificate registered in the account");
  }
  AutoRegistration result;
  result.certificate_id = leaf.id();
  result.ca_certificate_id = issuer->record.id;
  auto fail = [&](Outcome outcome, std::string detail) {
    result.outcome = outcome;
    result.detail = std::move(detail);
    return result;
  };
  if (!issuer->record.active) return fail(Outcome::kNotEligible, "the CA certificate is INACTIVE");
  if (!issuer->record.auto_registration) {
    return fail(Outcome::kNotEligible, "the CA certificate does not allow auto-registration");
  }
  if (auto verified = pki::verifyChain(leaf, {}, issuer->certificate, clock_.now());
      !verified.ok()) {
    return fail(Outcome::kNotEligible, verified.error().message());
  }
  if (auto acceptable = leaf.checkAcceptable(); !acceptable.ok()) {
    return fail(Outcome::kNotEligible, acceptable.error().message());
  }

  const registry::RegistrationConfig& config = issuer->record.registration_config;
  const bool jitp = config.template_body || config.template_name;
  // A connect that was refused while an earlier one registered the device, but whose attempt
  // started only after that one landed: the work is done, and counted, already.
  if (auto registered = registry_.describeCertificate(device.account, leaf.id()); registered.ok()) {
    result.outcome = jitp ? Outcome::kProvisioned : Outcome::kPendingActivation;
    result.shared = true;
    result.registered_at = registered->creation_date;
    return result;
  }
  registry::ProvisioningPlan plan;  // empty: JITR registers the certificate and nothing else
  if (jitp) {
    std::string body;
    if (config.template_body) {
      body = *config.template_body;
    } else {
      auto stored = registry_.describeProvisioningTemplate(device.account, *config.template_name);
      if (!stored.ok()) return fail(Outcome::kFailed, stored.error().message());
      if (stored->type != "JITP") {
        return fail(Outcome::kFailed, "template " + stored->name + " is not a JITP template");
      }
      body = stored->body;
    }
    auto evaluated = evaluateTemplate(body, certificateParameters(leaf), TemplateKind::kJitp);
    if (!evaluated.ok()) return fail(Outcome::kFailed, evaluated.error().message());
    plan = std::move(*evaluated);
  }
  auto provisioned = registry_.provision(
      device.account, plan,
      registry::CertificateToRegister{leaf, issuer->record.id, issuer->record.mode});
  if (!provisioned.ok()) return fail(Outcome::kFailed, provisioned.error().message());
  result.outcome = jitp ? Outcome::kProvisioned : Outcome::kPendingActivation;
  result.registered_at =
      provisioned->certificate ? provisioned->certificate->creation_date : clock_.now();
  return result;
}

}  // namespace fleetgate::provisioning
