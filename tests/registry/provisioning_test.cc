#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "pki/certificate_request.h"
#include "registry/registry.h"
#include "testing/registry_fixture.h"

namespace fleetgate::registry {
namespace {

using testing::RegistryFixture;

constexpr const char* kPolicy =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";
constexpr const char* kOtherPolicy =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]})";

class ProvisioningTest : public RegistryFixture {
 protected:
  std::string csr(const std::string& cn = "device") {
    auto key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
    pki::DistinguishedName subject;
    subject.attributes = {{"CN", cn}};
    return *pki::CertificateRequest::createPem(*key, subject);
  }

  static PlannedThing thing(const std::string& name) {
    PlannedThing t;
    t.logical_name = "thing";
    t.name = name;
    return t;
  }

  PlannedCertificate csrCertificate() {
    PlannedCertificate c;
    c.logical_name = "certificate";
    c.source = PlannedCertificate::Source::kCsr;
    c.value = csr();
    return c;
  }

  static PlannedCertificate certificateById(const std::string& id,
                                            CertificateStatus status = CertificateStatus::kActive) {
    PlannedCertificate c;
    c.logical_name = "certificate";
    c.source = PlannedCertificate::Source::kId;
    c.value = id;
    c.status = status;
    return c;
  }

  // Everything provisioning can create, counted, to show a failure left nothing behind.
  struct Census {
    std::size_t things, certificates, policies, groups_members, published;
    bool operator==(const Census&) const = default;
  };
  Census census() {
    PageRequest all{std::nullopt, 250, true};
    std::size_t members = 0;
    auto groups = registry_->listThingGroups(account_, {}, all);
    EXPECT_TRUE(groups.ok());
    if (!groups.ok()) return {};
    for (const auto& g : groups->items) {
      members += registry_->listThingsInThingGroup(account_, g.name, false, all)->items.size();
    }
    return {registry_->listThings(account_, {}, all)->items.size(),
            registry_->listCertificates(account_, std::nullopt, all)->items.size(),
            registry_->listPolicies(account_, all)->items.size(), members, published_.size()};
  }

  std::vector<std::string> attachedPolicies(const std::string& cert_id) {
    auto page = registry_->listAttachedPolicies(account_, account_.arn("cert", cert_id), false,
                                                {std::nullopt, 250, true});
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->items : std::vector<std::string>{};
  }

  std::set<std::string> groupsOf(const std::string& thing_name) {
    std::set<std::string> out;
    PageRequest all{std::nullopt, 250, true};
    auto groups = registry_->listThingGroups(account_, {}, all);
    EXPECT_TRUE(groups.ok());
    if (!groups.ok()) return out;
    for (const auto& g : groups->items) {
      auto members = registry_->listThingsInThingGroup(account_, g.name, false, all)->items;
      if (std::find(members.begin(), members.end(), thing_name) != members.end())
        out.insert(g.name);
    }
    return out;
  }

  bool publishedEvent(EventResource resource, Event::Operation op, const std::string& id) {
    return std::any_of(published_.begin(), published_.end(), [&](const Event& e) {
      return e.resource == resource && e.operation == op && e.id == id;
    });
  }

  void group(const std::string& name) {
    ASSERT_TRUE(registry_->createThingGroup(account_, {name, std::nullopt, std::nullopt, {}}).ok());
  }

  // Registers `ca` in the account with proof of possession; returns its id.
  std::string registerCa(const pki::CertificateAuthority& ca, bool active = true) {
    auto code = registry_->getRegistrationCode(account_);
    RegisterCaInput input{ca.certificate().pem(),   issueLeaf(ca, *code).pem(), active, true, {},
                          CertificateMode::kDefault};
    auto registered = registry_->registerCaCertificate(account_, input);
    EXPECT_TRUE(registered.ok()) << registered.error().message();
    return registered.ok() ? registered->id : "";
  }

  void expectFailure(const Result<ProvisioningOutcome>& r, const std::string& mentions) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kResourceRegistrationFailure) << r.error().message();
    EXPECT_NE(r.error().message().find(mentions), std::string::npos) << r.error().message();
  }
};

TEST_F(ProvisioningTest, CreatesEverythingAndAttachesItInOneGo) {
  ASSERT_TRUE(registry_->createThingType(account_, "sensor", std::nullopt, {}).ok());
  group("fleet");
  ASSERT_TRUE(registry_->createPolicy(account_, "existing", kPolicy).ok());
  published_.clear();

  ProvisioningPlan plan;
  plan.thing = thing("dev-1");
  plan.thing->attributes = Attributes{{"serial", "42"}};
  plan.thing->type_name = "sensor";
  plan.thing->groups = std::vector<std::string>{"fleet"};
  plan.certificate = csrCertificate();
  plan.policies = {{"byName", "existing", std::nullopt}, {"byDoc", "fromdoc", kOtherPolicy}};
  auto outcome = registry_->provision(account_, plan);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();

  auto thing_record = registry_->describeThing(account_, "dev-1");
  ASSERT_TRUE(thing_record.ok());
  EXPECT_EQ(thing_record->attributes, (Attributes{{"serial", "42"}}));
  EXPECT_EQ(thing_record->type_name, "sensor");
  EXPECT_EQ(groupsOf("dev-1"), (std::set<std::string>{"fleet"}));

  ASSERT_TRUE(outcome->certificate);
  const std::string cert_id = outcome->certificate->id;
  auto cert = registry_->describeCertificate(account_, cert_id);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->status, CertificateStatus::kActive);
  EXPECT_EQ(outcome->certificate_pem, cert->pem);
  EXPECT_EQ(outcome->thing_name, "dev-1");
  EXPECT_EQ(registry_->getPolicy(account_, "fromdoc")->document, kOtherPolicy);
  EXPECT_EQ(attachedPolicies(cert_id), (std::vector<std::string>{"existing", "fromdoc"}));
  auto principals = registry_->listThingPrincipals(account_, "dev-1", {std::nullopt, 25, true});
  ASSERT_EQ(principals->items.size(), 1u);
  EXPECT_EQ(principals->items[0].principal, account_.arn("cert", cert_id));
  EXPECT_EQ(principals->items[0].type, "NON_EXCLUSIVE_THING");
  EXPECT_EQ(outcome->resource_arns,
            (std::map<std::string, std::string>{{"thing", account_.arn("thing", "dev-1")},
                                                {"certificate", account_.arn("cert", cert_id)},
                                                {"byName", account_.arn("policy", "existing")},
                                                {"byDoc", account_.arn("policy", "fromdoc")}}));

  // Events as the individual operations record them, published after the commit.
  EXPECT_TRUE(publishedEvent(EventResource::kThing, Event::Operation::kCreated, "dev-1"));
  EXPECT_TRUE(publishedEvent(EventResource::kThingGroup, Event::Operation::kUpdated, "fleet"));
  EXPECT_TRUE(publishedEvent(EventResource::kCertificate, Event::Operation::kCreated, cert_id));
  EXPECT_TRUE(publishedEvent(EventResource::kPolicy, Event::Operation::kCreated, "fromdoc"));
  EXPECT_TRUE(publishedEvent(EventResource::kPolicyAttachment, Event::Operation::kCreated,
                             account_.arn("cert", cert_id) + "|existing"));
  EXPECT_TRUE(publishedEvent(EventResource::kThingPrincipal, Event::Operation::kCreated,
                             account_.arn("cert", cert_id) + "|dev-1"));
}

TEST_F(ProvisioningTest, ExistingThingAttributesFollowTheirOverrideSetting) {
  struct Case {
    OverrideSetting setting;
    Attributes expected;
  };
  const Attributes before{{"a", "1"}, {"b", "2"}};
  for (const Case& c : {Case{OverrideSetting::kReplace, {{"b", "9"}}},
                        Case{OverrideSetting::kMerge, {{"a", "1"}, {"b", "9"}}},
                        Case{OverrideSetting::kDoNothing, before}}) {
    ASSERT_TRUE(registry_->deleteThing(account_, "t", std::nullopt).ok());
    ASSERT_TRUE(registry_->createThing(account_, {"t", std::nullopt, before, std::nullopt}).ok());
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.thing->attributes = Attributes{{"b", "9"}};
    plan.thing->attributes_override = c.setting;
    auto outcome = registry_->provision(account_, plan);
    ASSERT_TRUE(outcome.ok()) << outcome.error().message();
    EXPECT_EQ(registry_->describeThing(account_, "t")->attributes, c.expected)
        << static_cast<int>(c.setting);
  }
}

TEST_F(ProvisioningTest, ExistingThingTypeFollowsItsOverrideSetting) {
  ASSERT_TRUE(registry_->createThingType(account_, "old", std::nullopt, {}).ok());
  ASSERT_TRUE(registry_->createThingType(account_, "new", std::nullopt, {}).ok());
  ASSERT_TRUE(registry_->createThing(account_, {"t", "old", {}, std::nullopt}).ok());
  ProvisioningPlan plan;
  plan.thing = thing("t");
  plan.thing->type_name = "new";
  plan.thing->type_override = OverrideSetting::kDoNothing;
  ASSERT_TRUE(registry_->provision(account_, plan).ok());
  EXPECT_EQ(registry_->describeThing(account_, "t")->type_name, "old");
  plan.thing->type_override = OverrideSetting::kReplace;
  ASSERT_TRUE(registry_->provision(account_, plan).ok());
  EXPECT_EQ(registry_->describeThing(account_, "t")->type_name, "new");
  // A deprecated type cannot be given to a thing.
  ASSERT_TRUE(registry_->deprecateThingType(account_, "old", false).ok());
  plan.thing->type_name = "old";
  expectFailure(registry_->provision(account_, plan), "t");
  EXPECT_EQ(registry_->describeThing(account_, "t")->type_name, "new");
}

TEST_F(ProvisioningTest, ExistingThingGroupsFollowTheirOverrideSetting) {
  group("g1");
  group("g2");
  struct Case {
    OverrideSetting setting;
    std::set<std::string> expected;
  };
  for (const Case& c :
       {Case{OverrideSetting::kReplace, {"g2"}}, Case{OverrideSetting::kMerge, {"g1", "g2"}},
        Case{OverrideSetting::kDoNothing, {"g1"}}}) {
    ASSERT_TRUE(registry_->deleteThing(account_, "t", std::nullopt).ok());
    ASSERT_TRUE(registry_->createThing(account_, {"t", std::nullopt, {}, std::nullopt}).ok());
    ASSERT_TRUE(registry_->addThingToThingGroup(account_, "g1", "t").ok());
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.thing->groups = std::vector<std::string>{"g2"};
    plan.thing->groups_override = c.setting;
    auto outcome = registry_->provision(account_, plan);
    ASSERT_TRUE(outcome.ok()) << outcome.error().message();
    EXPECT_EQ(groupsOf("t"), c.expected) << static_cast<int>(c.setting);
  }
}

TEST_F(ProvisioningTest, FailOnAnExistingThingLeavesNothingBehind) {
  ASSERT_TRUE(
      registry_->createThing(account_, {"t", std::nullopt, Attributes{{"a", "1"}}, std::nullopt})
          .ok());
  const Census before = census();
  for (const char* property : {"AttributePayload", "ThingTypeName", "ThingGroups"}) {
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.certificate = csrCertificate();
    plan.policies = {{"policy", "newpolicy", kPolicy}};
    if (std::string(property) == "AttributePayload") {
      plan.thing->attributes = Attributes{{"a", "2"}};
      plan.thing->attributes_override = OverrideSetting::kFail;
    } else if (std::string(property) == "ThingTypeName") {
      ASSERT_TRUE(registry_->createThingType(account_, "ty", std::nullopt, {}).ok() ||
                  registry_->describeThingType(account_, "ty").ok());
      plan.thing->type_name = "ty";
      plan.thing->type_override = OverrideSetting::kFail;
    } else {
      plan.thing->groups = std::vector<std::string>{};
      plan.thing->groups_override = OverrideSetting::kFail;
    }
    const Census just_before = census();
    expectFailure(registry_->provision(account_, plan), property);
    EXPECT_EQ(census(), just_before) << property;
  }
  EXPECT_EQ(census().certificates, before.certificates);
  EXPECT_EQ(census().policies, before.policies);
  EXPECT_EQ(registry_->describeThing(account_, "t")->attributes, (Attributes{{"a", "1"}}));
}

TEST_F(ProvisioningTest, MissingPolicyThingTypeOrGroupRollsEverythingBack) {
  group("real");
  const Census before = census();
  {
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.certificate = csrCertificate();
    plan.policies = {{"created", "fresh", kPolicy}, {"missing", "nosuchpolicy", std::nullopt}};
    expectFailure(registry_->provision(account_, plan), "nosuchpolicy");
  }
  EXPECT_EQ(census(), before);
  EXPECT_EQ(registry_->getPolicy(account_, "fresh").error().kind(), ErrorKind::kResourceNotFound);
  {
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.thing->type_name = "nosuchtype";
    plan.certificate = csrCertificate();
    expectFailure(registry_->provision(account_, plan), "nosuchtype");
  }
  EXPECT_EQ(census(), before);
  {
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.thing->groups = std::vector<std::string>{"real", "nosuchgroup"};
    plan.certificate = csrCertificate();
    expectFailure(registry_->provision(account_, plan), "nosuchgroup");
  }
  EXPECT_EQ(census(), before);
  EXPECT_EQ(registry_->describeThing(account_, "t").error().kind(), ErrorKind::kResourceNotFound);
}

TEST_F(ProvisioningTest, PolicyDocumentReusesAnIdenticalPolicyAndRefusesADifferentOne) {
  ASSERT_TRUE(registry_->createPolicy(account_, "same", kPolicy).ok());
  auto cert = registry_->createKeysAndCertificate(account_, false);
  published_.clear();
  ProvisioningPlan plan;
  plan.certificate = certificateById(cert->certificate.id);
  plan.policies = {{"p", "same", kPolicy}};
  ASSERT_TRUE(registry_->provision(account_, plan).ok());
  EXPECT_FALSE(publishedEvent(EventResource::kPolicy, Event::Operation::kCreated, "same"));
  EXPECT_EQ(attachedPolicies(cert->certificate.id), (std::vector<std::string>{"same"}));
  plan.policies = {{"p", "same", kOtherPolicy}};
  expectFailure(registry_->provision(account_, plan), "different document");
  EXPECT_EQ(registry_->getPolicy(account_, "same")->document, kPolicy);
}

TEST_F(ProvisioningTest, MalformedPolicyDocumentFailsAsRegistrationFailure) {
  ProvisioningPlan plan;
  plan.thing = thing("t");
  plan.policies = {{"p", "bad", std::string("{\"Statement\":[]}")}};
  const Census before = census();
  expectFailure(registry_->provision(account_, plan), "bad");
  EXPECT_EQ(census(), before);
}

TEST_F(ProvisioningTest, RegisterFirstThenCertificateIdActivatesTheDeviceCertificate) {
  auto ca = makeCa("JITP CA");
  const std::string ca_id = registerCa(ca);
  auto device = issueLeaf(ca, "device-7");
  published_.clear();

  ProvisioningPlan plan;
  plan.thing = thing("device-7");
  plan.certificate = certificateById(device.id());
  plan.certificate->status_override = OverrideSetting::kDoNothing;  // as in AWS's JITP example
  plan.policies = {{"policy", "jitp", kPolicy}};
  auto outcome = registry_->provision(
      account_, plan, CertificateToRegister{device, ca_id, CertificateMode::kDefault});
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  auto cert = registry_->describeCertificate(account_, device.id());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->status, CertificateStatus::kActive);
  EXPECT_EQ(cert->ca_id, ca_id);
  EXPECT_EQ(outcome->certificate->status, CertificateStatus::kActive);
  EXPECT_EQ(attachedPolicies(device.id()), (std::vector<std::string>{"jitp"}));
  EXPECT_EQ(registry_
                ->listPrincipalThings(account_, account_.arn("cert", device.id()),
                                      {std::nullopt, 25, true})
                ->items,
            (std::vector<std::string>{"device-7"}));
  EXPECT_TRUE(publishedEvent(EventResource::kCertificate, Event::Operation::kCreated, device.id()));
  EXPECT_TRUE(publishedEvent(EventResource::kCertificate, Event::Operation::kUpdated, device.id()));

  // Running it again (the device reconnects) finds everything in place.
  auto again = registry_->provision(
      account_, plan, CertificateToRegister{device, ca_id, CertificateMode::kDefault});
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(registry_->describeCertificate(account_, device.id())->status,
            CertificateStatus::kActive);
}

TEST_F(ProvisioningTest, RegisterFirstIsUndoneWhenThePlanFails) {
  auto ca = makeCa("JITP CA");
  const std::string ca_id = registerCa(ca);
  auto device = issueLeaf(ca, "device-8");
  const Census before = census();
  ProvisioningPlan plan;
  plan.thing = thing("device-8");
  plan.certificate = certificateById(device.id());
  plan.policies = {{"policy", "missing", std::nullopt}};
  expectFailure(
      registry_->provision(account_, plan,
                           CertificateToRegister{device, ca_id, CertificateMode::kDefault}),
      "missing");
  EXPECT_EQ(census(), before);
  EXPECT_EQ(registry_->describeCertificate(account_, device.id()).error().kind(),
            ErrorKind::kResourceNotFound);
}

TEST_F(ProvisioningTest, RegisterFirstNeedsAnActiveCaThatSignedTheCertificate) {
  auto inactive_ca = makeCa("Inactive CA");
  const std::string inactive_id = registerCa(inactive_ca, false);
  auto device = issueLeaf(inactive_ca, "d");
  ProvisioningPlan plan;
  plan.certificate = certificateById(device.id());
  const Census before = census();
  expectFailure(registry_->provision(
                    account_, plan,
                    CertificateToRegister{device, inactive_id, CertificateMode::kDefault}),
                "not ACTIVE");
  auto other_ca = makeCa("Other CA");
  const std::string other_id = registerCa(other_ca);
  const Census with_other = census();
  expectFailure(
      registry_->provision(
          account_, plan, CertificateToRegister{device, other_id, CertificateMode::kDefault}),
      "not signed");
  EXPECT_EQ(census(), with_other);
  EXPECT_EQ(before.certificates, with_other.certificates);
}

TEST_F(ProvisioningTest, RevokedCertificateIsNeverReactivated) {
  auto cert = registry_->createKeysAndCertificate(account_, true);
  ASSERT_TRUE(
      registry_->updateCertificate(account_, cert->certificate.id, CertificateStatus::kRevoked)
          .ok());
  const Census before = census();
  for (OverrideSetting setting : {OverrideSetting::kReplace, OverrideSetting::kDoNothing}) {
    ProvisioningPlan plan;
    plan.thing = thing("t");
    plan.certificate = certificateById(cert->certificate.id);
    plan.certificate->status_override = setting;
    expectFailure(registry_->provision(account_, plan), "REVOKED");
    EXPECT_EQ(census(), before);
  }
  EXPECT_EQ(registry_->describeCertificate(account_, cert->certificate.id)->status,
            CertificateStatus::kRevoked);
}

TEST_F(ProvisioningTest, ExistingCertificateStatusFollowsItsOverrideSetting) {
  auto cert = registry_->createKeysAndCertificate(account_, false);
  const std::string id = cert->certificate.id;
  ProvisioningPlan plan;
  plan.certificate = certificateById(id, CertificateStatus::kActive);
  plan.certificate->status_override = OverrideSetting::kDoNothing;
  ASSERT_TRUE(registry_->provision(account_, plan).ok());
  EXPECT_EQ(registry_->describeCertificate(account_, id)->status, CertificateStatus::kInactive);
  plan.certificate->status_override = OverrideSetting::kFail;
  expectFailure(registry_->provision(account_, plan), "FAIL");
  EXPECT_EQ(registry_->describeCertificate(account_, id)->status, CertificateStatus::kInactive);
  plan.certificate->status_override = OverrideSetting::kReplace;
  ASSERT_TRUE(registry_->provision(account_, plan).ok());
  EXPECT_EQ(registry_->describeCertificate(account_, id)->status, CertificateStatus::kActive);
  // FAIL only fails when the status would change.
  plan.certificate->status_override = OverrideSetting::kFail;
  EXPECT_TRUE(registry_->provision(account_, plan).ok());
}

TEST_F(ProvisioningTest, MissingCertificateIdFails) {
  ProvisioningPlan plan;
  plan.thing = thing("t");
  plan.certificate = certificateById(std::string(64, 'a'));
  const Census before = census();
  expectFailure(registry_->provision(account_, plan), std::string(64, 'a'));
  EXPECT_EQ(census(), before);
}

TEST_F(ProvisioningTest, CertificatePemRegistersUnderItsCaOrWithoutOne) {
  auto ca = makeCa("Customer CA");
  const std::string ca_id = registerCa(ca);
  auto under_ca = issueLeaf(ca, "a");
  ProvisioningPlan plan;
  plan.certificate =
      PlannedCertificate{"cert",       PlannedCertificate::Source::kPem, under_ca.pem(),
                         std::nullopt, CertificateStatus::kInactive,     OverrideSetting::kReplace};
  auto outcome = registry_->provision(account_, plan);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  EXPECT_EQ(outcome->certificate->ca_id, ca_id);
  EXPECT_EQ(outcome->certificate->status, CertificateStatus::kInactive);
  EXPECT_EQ(outcome->certificate->mode, CertificateMode::kDefault);

  auto stranger = issueLeaf(makeCa("Unregistered CA"), "b");
  plan.certificate->value = stranger.pem();
  outcome = registry_->provision(account_, plan);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  EXPECT_FALSE(outcome->certificate->ca_id);
  EXPECT_EQ(outcome->certificate->mode, CertificateMode::kSniOnly);

  plan.certificate->value = "not a pem";
  expectFailure(registry_->provision(account_, plan), "cert");
}

TEST_F(ProvisioningTest, BillingGroupsDoNotExistSoNamingOneFails) {
  ProvisioningPlan plan;
  plan.thing = thing("t");
  plan.thing->billing_group = "bg";
  expectFailure(registry_->provision(account_, plan), "bg");
  EXPECT_EQ(registry_->describeThing(account_, "t").error().kind(), ErrorKind::kResourceNotFound);
}

}  // namespace
}  // namespace fleetgate::registry
