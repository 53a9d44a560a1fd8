#include "provisioning/auto_registration.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "testing/registry_fixture.h"

namespace fleetgate::provisioning {
namespace {

using Outcome = AutoRegistration::Outcome;
using registry::CertificateStatus;

constexpr char kTemplate[] = R"({
  "Parameters": {
    "AWS::IoT::Certificate::CommonName": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
              "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                   "Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy",
               "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}}}
  }
})";

class AutoRegistrationTest : public testing::RegistryFixture {
 protected:
  AutoRegistrationTest() : ca_(makeCa("Factory CA")), registrar_(*registry_, clock_) {}

  // Registers ca_ (SNI_ONLY: no proof of possession needed here) and returns its id.
  std::string registerCa(bool active = true, bool auto_registration = true,
                         registry::RegistrationConfig config = {}) {
    registry::RegisterCaInput input;
    input.ca_pem = ca_.certificate().pem();
    input.set_active = active;
    input.allow_auto_registration = auto_registration;
    input.registration_config = std::move(config);
    input.mode = registry::CertificateMode::kSniOnly;
    auto ca = registry_->registerCaCertificate(account_, input);
    EXPECT_TRUE(ca.ok()) << ca.error().message();
    return ca.ok() ? ca->id : "";
  }

  static registry::RegistrationConfig jitp() {
    registry::RegistrationConfig config;
    config.template_body = kTemplate;
    config.role_arn = "arn:aws:iam::123456789012:role/JITP";
    return config;
  }

  UnknownDevice device(const pki::Certificate& leaf, bool with_ca = true, bool sni = false) {
    UnknownDevice d{account_, {leaf.der()}, sni};
    if (with_ca) d.chain_der.push_back(ca_.certificate().der());
    return d;
  }

  std::size_t certificateCount() {
    auto page = registry_->listCertificates(account_, std::nullopt, {std::nullopt, 250, true});
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->items.size() : 0;
  }

  pki::CertificateAuthority ca_;
  AutoRegistrar registrar_;
};

TEST_F(AutoRegistrationTest, WithoutTemplateRegistersPendingActivation) {
  const std::string ca_id = registerCa();
  const auto leaf = issueLeaf(ca_, "sensor-1");
  AutoRegistration r = registrar_.run(device(leaf));
  ASSERT_EQ(r.outcome, Outcome::kPendingActivation) << r.detail;
  EXPECT_EQ(r.certificate_id, leaf.id());
  EXPECT_EQ(r.ca_certificate_id, ca_id);
  EXPECT_FALSE(r.shared);
  auto cert = registry_->describeCertificate(account_, leaf.id());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->status, CertificateStatus::kPendingActivation);
  EXPECT_EQ(cert->ca_id, ca_id);
  EXPECT_EQ(cert->mode, registry::CertificateMode::kSniOnly);
  EXPECT_EQ(r.registered_at, cert->creation_date);
}

TEST_F(AutoRegistrationTest, TemplateProvisionsThingPolicyAndActivates) {
  registerCa(true, true, jitp());
  const auto leaf = issueLeaf(ca_, "sensor-2");
  AutoRegistration r = registrar_.run(device(leaf));
  ASSERT_EQ(r.outcome, Outcome::kProvisioned) << r.detail;
  auto cert = registry_->describeCertificate(account_, leaf.id());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->status, CertificateStatus::kActive);
  auto thing = registry_->describeThing(account_, "sensor-2");
  ASSERT_TRUE(thing.ok());
  auto grants = registry_->principalGrants(account_, leaf.id());
  ASSERT_TRUE(grants.ok());
  EXPECT_EQ(grants->policy_documents.size(), 1u);
  ASSERT_EQ(grants->things.size(), 1u);
  EXPECT_EQ(grants->things[0].thing.name, "sensor-2");
}

TEST_F(AutoRegistrationTest, LeafOnlyNeedsServerName) {
  registerCa();
  const auto leaf = issueLeaf(ca_, "sensor-3");
  EXPECT_EQ(registrar_.run(device(leaf, false, false)).outcome, Outcome::kNotEligible);
  EXPECT_EQ(certificateCount(), 0u);
  EXPECT_EQ(registrar_.run(device(leaf, false, true)).outcome, Outcome::kPendingActivation);
}

TEST_F(AutoRegistrationTest, RefusesWhatNoActiveAutoRegistrationCaVouchesFor) {
  const auto stranger = makeCa("Factory CA");  // same subject, another key
  const auto forged = issueLeaf(stranger, "forged");
  const auto expired = [&] {
    auto leaf = issueLeaf(ca_, "expired", std::chrono::hours(1));
    return leaf;
  }();

  // No CA registered at all.
  EXPECT_EQ(registrar_.run(device(issueLeaf(ca_, "early"))).outcome, Outcome::kNotEligible);

  registerCa();
  // Signed by a look-alike CA: sent with the look-alike, or leaf only with SNI.
  UnknownDevice with_forger{account_, {forged.der(), stranger.certificate().der()}, false};
  EXPECT_EQ(registrar_.run(with_forger).outcome, Outcome::kNotEligible);
  EXPECT_EQ(registrar_.run(device(forged, false, true)).outcome, Outcome::kNotEligible);
  // Signed by the registered CA, but the chain carries another CA certificate.
  UnknownDevice wrong_chain{
      account_, {issueLeaf(ca_, "x").der(), stranger.certificate().der()}, false};
  EXPECT_EQ(registrar_.run(wrong_chain).outcome, Outcome::kNotEligible);
  // A CA certificate presented as a device certificate.
  UnknownDevice ca_as_leaf{account_, {ca_.certificate().der(), ca_.certificate().der()}, false};
  EXPECT_EQ(registrar_.run(ca_as_leaf).outcome, Outcome::kNotEligible);
  // Expired by the time it connects.
  clock_.advance(std::chrono::hours(2));
  EXPECT_EQ(registrar_.run(device(expired)).outcome, Outcome::kNotEligible);
  // Garbage instead of a certificate.
  EXPECT_EQ(registrar_.run(UnknownDevice{account_, {"not DER"}, true}).outcome,
            Outcome::kNotEligible);
  EXPECT_EQ(certificateCount(), 0u);
}

TEST_F(AutoRegistrationTest, InactiveOrNonAutoRegisteringCaRefuses) {
  const std::string ca_id = registerCa(false, true);
  const auto leaf = issueLeaf(ca_, "sensor-4");
  EXPECT_EQ(registrar_.run(device(leaf)).outcome, Outcome::kNotEligible);
  registry::UpdateCaInput update;
  update.id = ca_id;
  update.active = true;
  update.auto_registration = false;
  ASSERT_TRUE(registry_->updateCaCertificate(account_, update).ok());
  EXPECT_EQ(registrar_.run(device(leaf)).outcome, Outcome::kNotEligible);
  EXPECT_EQ(certificateCount(), 0u);
}

TEST_F(AutoRegistrationTest, TemplateFailureLeavesNothing) {
  registry::RegistrationConfig config = jitp();
  // The device certificate has no C attribute to fill the declared parameter.
  std::string body = kTemplate;
  const std::string declared = R"("AWS::IoT::Certificate::Id": {"Type": "String"})";
  body.replace(body.find(declared), declared.size(),
               declared + R"(, "AWS::IoT::Certificate::Country": {"Type": "String"})");
  config.template_body = body;
  registerCa(true, true, config);
  published_.clear();
  AutoRegistration r = registrar_.run(device(issueLeaf(ca_, "sensor-5")));
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_NE(r.detail.find("Country"), std::string::npos) << r.detail;
  EXPECT_EQ(certificateCount(), 0u);
  EXPECT_TRUE(published_.empty());
}

TEST_F(AutoRegistrationTest, ConcurrentRunsForOneDeviceRegisterOnce) {
  registerCa(true, true, jitp());
  const auto leaf = issueLeaf(ca_, "sensor-6");
  published_.clear();
  std::vector<AutoRegistration> results(8);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&, out = &result] { *out = registrar_.run(device(leaf)); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r.outcome, Outcome::kProvisioned) << r.detail;
  const auto created = std::count_if(published_.begin(), published_.end(), [](const auto& e) {
    return e.resource == registry::EventResource::kCertificate && e.operation == registry::Event::Operation::kCreated;
  });
  EXPECT_EQ(created, 1);
  EXPECT_EQ(certificateCount(), 1u);
}

// A refused connect whose attempt starts after the first one landed finds the work done: it
// reports the registration as another connect's, so the broker counts the device once.
TEST_F(AutoRegistrationTest, ALaterRunForARegisteredDeviceSharesTheFirstOnesResult) {
  registerCa(true, true, jitp());
  const auto leaf = issueLeaf(ca_, "sensor-7");
  const AutoRegistration first = registrar_.run(device(leaf));
  ASSERT_EQ(first.outcome, Outcome::kProvisioned) << first.detail;
  EXPECT_FALSE(first.shared);
  published_.clear();
  const AutoRegistration later = registrar_.run(device(leaf));
  EXPECT_EQ(later.outcome, Outcome::kProvisioned);
  EXPECT_TRUE(later.shared);
  EXPECT_EQ(later.registered_at, first.registered_at);
  EXPECT_TRUE(published_.empty());  // nothing provisioned twice
}

TEST(CertificateParameters, ComeFromTheSubjectAndTheId) {
  auto key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
  pki::IssueProfile profile;
  profile.subject.attributes = {{"C", "DE"},          {"ST", "Bavaria"}, {"O", "Acme"},
                                {"OU", "Sensors"},    {"CN", "s-7"},     {"serialNumber", "SN7"},
                                {"dnQualifier", "q1"}};
  profile.not_before = std::chrono::system_clock::now();
  profile.not_after = profile.not_before + std::chrono::hours(1);
  pki::SecureRandom random;
  auto cert = pki::CertificateAuthority::selfSign(pki::SoftwareSigner(std::move(key).value()),
                                                  profile, random);
  ASSERT_TRUE(cert.ok());
  auto p = certificateParameters(*cert);
  EXPECT_EQ(p["AWS::IoT::Certificate::Country"], "DE");
  EXPECT_EQ(p["AWS::IoT::Certificate::StateName"], "Bavaria");
  EXPECT_EQ(p["AWS::IoT::Certificate::Organization"], "Acme");
  EXPECT_EQ(p["AWS::IoT::Certificate::OrganizationalUnit"], "Sensors");
  EXPECT_EQ(p["AWS::IoT::Certificate::CommonName"], "s-7");
  EXPECT_EQ(p["AWS::IoT::Certificate::SerialNumber"], "SN7");
  EXPECT_EQ(p["AWS::IoT::Certificate::DistinguishedNameQualifier"], "q1");
  EXPECT_EQ(p["AWS::IoT::Certificate::Id"], cert->id());
  EXPECT_EQ(p.size(), 8u);
}

}  // namespace
}  // namespace fleetgate::provisioning
