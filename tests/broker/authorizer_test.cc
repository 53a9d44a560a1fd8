#include "broker/authorizer.h"

#include <gtest/gtest.h>

#include "registry/certificate_index.h"
#include "testing/registry_fixture.h"

namespace fleetgate::broker {
namespace {

constexpr const char* kAllowDevTopics = R"({"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
  {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/dev/${iot:Connection.Thing.Attributes[site]}/*"}]})";

class AuthorizerTest : public testing::RegistryFixture {
 protected:
  AuthorizerTest() : index_(*registry_, events_), authorizer_(*registry_, index_, clock_, account_.id, "example.com") {
    events_.subscribe([this](const registry::Event& e) { authorizer_.onRegistryEvent(e); });
  }

  registry::Certificate activeCertificate() {
    auto issued = registry_->createKeysAndCertificate(account_, true);
    EXPECT_TRUE(issued.ok());
    return issued->certificate;
  }

  AuthOutcome authorize(const registry::Certificate& cert, const std::string& client_id,
                        std::string_view sni = {}, const mqtt::Will* will = nullptr) {
    policy::ConnectionContext context;
    context.client_id = client_id;
    if (will != nullptr) context.last_will_topic = will->topic;
    return authorizer_.authorize(cert.id, sni, context, will);
  }

  static AuthFailure failureOf(const AuthOutcome& outcome) {
    auto* refusal = std::get_if<Refusal>(&outcome);
    return refusal == nullptr ? AuthFailure::kCount : refusal->failure;
  }

  void attach(const std::string& policy, const std::string& target) {
    ASSERT_TRUE(registry_->attachPolicy(account_, policy, target).ok());
  }

  registry::CertificateIndex index_;
  Authorizer authorizer_;
};

TEST_F(AuthorizerTest, UnknownCertificateIsRefused) {
  registry::Certificate unknown;
  unknown.id = std::string(64, 'a');
  EXPECT_EQ(failureOf(authorize(unknown, "c")), AuthFailure::kUnknownCertificate);
}

TEST_F(AuthorizerTest, CertificateMustBeActiveAndConnectAllowed) {
  auto cert = activeCertificate();
  // Registered and ACTIVE, but no policy: iot:Connect is implicitly denied.
  EXPECT_EQ(failureOf(authorize(cert, "c")), AuthFailure::kConnectDenied);
  ASSERT_TRUE(registry_->createPolicy(account_, "all", R"({"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]})").ok());
  attach("all", account_.arn("cert", cert.id));
  auto allowed = authorize(cert, "c");
  ASSERT_TRUE(std::holds_alternative<Authorization>(allowed));
  EXPECT_EQ(std::get<Authorization>(allowed).account.id, account_.id);

  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, registry::CertificateStatus::kInactive).ok());
  EXPECT_EQ(failureOf(authorize(cert, "c")), AuthFailure::kCertificateNotActive);
}

TEST_F(AuthorizerTest, ValidityDatesAreChecked) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->createPolicy(account_, "all", R"({"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]})").ok());
  attach("all", account_.arn("cert", cert.id));
  clock_.set(cert.not_after + std::chrono::seconds(1));
  EXPECT_EQ(failureOf(authorize(cert, "c")), AuthFailure::kCertificateExpired);
  clock_.set(cert.not_before - std::chrono::seconds(1));
  EXPECT_EQ(failureOf(authorize(cert, "c")), AuthFailure::kCertificateNotYetValid);
}

TEST_F(AuthorizerTest, ThingVariablesAndThingGroupPoliciesApplyWhenClientIdIsTheThing) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->createThing(account_, {"sensor-1", {}, registry::Attributes{{"site", "berlin"}}, {}}).ok());
  ASSERT_TRUE(registry_->attachThingPrincipal(account_, "sensor-1", account_.arn("cert", cert.id), "NON_EXCLUSIVE_THING").ok());
  ASSERT_TRUE(registry_->createThingGroup(account_, {"fleet", {}, {}, {}}).ok());
  ASSERT_TRUE(registry_->createThingGroup(account_, {"line-a", "fleet", {}, {}}).ok());
  ASSERT_TRUE(registry_->addThingToThingGroup(account_, "line-a", "sensor-1").ok());
  ASSERT_TRUE(registry_->createPolicy(account_, "dev", kAllowDevTopics).ok());
  // Attached to the parent group: applies through line-a.
  attach("dev", account_.arn("thinggroup", "fleet"));

  auto outcome = authorize(cert, "sensor-1");
  ASSERT_TRUE(std::holds_alternative<Authorization>(outcome));
  const auto& policy = *std::get<Authorization>(outcome).policy;
  EXPECT_TRUE(isAllowed(policy.check(policy::Action::kPublish, policy::ResourceKind::kTopic, "dev/berlin/t")));
  EXPECT_FALSE(isAllowed(policy.check(policy::Action::kPublish, policy::ResourceKind::kTopic, "dev/paris/t")));
  EXPECT_FALSE(std::get<Authorization>(outcome).exclusive_thing.has_value());

  // Another client id is not the thing: no thing variables, no group policies.
  EXPECT_EQ(failureOf(authorize(cert, "someone-else")), AuthFailure::kConnectDenied);

  // Removing the thing from its group takes the grant away at the next authorization.
  ASSERT_TRUE(registry_->removeThingFromThingGroup(account_, "line-a", "sensor-1").ok());
  EXPECT_EQ(failureOf(authorize(cert, "sensor-1")), AuthFailure::kConnectDenied);
}

TEST_F(AuthorizerTest, ExclusiveThingIsIdentifiedWhateverTheClientId) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->createThing(account_, {"only", {}, {}, {}}).ok());
  ASSERT_TRUE(registry_->attachThingPrincipal(account_, "only", account_.arn("cert", cert.id), "EXCLUSIVE_THING").ok());
  ASSERT_TRUE(registry_->createPolicy(account_, "p", R"({"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}]})").ok());
  attach("p", account_.arn("cert", cert.id));
  auto outcome = authorize(cert, "any-client");
  ASSERT_TRUE(std::holds_alternative<Authorization>(outcome));
  EXPECT_EQ(std::get<Authorization>(outcome).exclusive_thing, "only");
}

TEST_F(AuthorizerTest, WillTopicMustBePublishable) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->createPolicy(account_, "p", R"({"Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/*","arn:aws:iot:us-east-1:123456789012:topic/ok/*"]}]})").ok());
  attach("p", account_.arn("cert", cert.id));
  mqtt::Will good{"ok/will", "bye", mqtt::Qos::kAtMostOnce, false, {}};
  EXPECT_TRUE(std::holds_alternative<Authorization>(authorize(cert, "c", {}, &good)));
  mqtt::Will bad{"other/will", "bye", mqtt::Qos::kAtMostOnce, false, {}};
  EXPECT_EQ(failureOf(authorize(cert, "c", {}, &bad)), AuthFailure::kWillDenied);
  mqtt::Will retained{"ok/will", "bye", mqtt::Qos::kAtMostOnce, true, {}};  // no iot:RetainPublish
  EXPECT_EQ(failureOf(authorize(cert, "c", {}, &retained)), AuthFailure::kWillDenied);
}

TEST_F(AuthorizerTest, ServerNamePicksTheAccount) {
  auto other = createAccount("210987654321", "AKIATESTTESTTEST0002");
  auto issued = registry_->createKeysAndCertificate(other, true);
  ASSERT_TRUE(issued.ok());
  ASSERT_TRUE(registry_->createPolicy(other, "all", R"({"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]})").ok());
  ASSERT_TRUE(registry_->attachPolicy(other, "all", other.arn("cert", issued->certificate.id)).ok());
  // Without SNI the default account is asked, where this certificate is unknown.
  EXPECT_EQ(failureOf(authorize(issued->certificate, "c")), AuthFailure::kUnknownCertificate);
  const std::string endpoint = other.endpoint_prefix + "-ats.iot.us-east-1.example.com";
  auto outcome = authorize(issued->certificate, "c", endpoint);
  ASSERT_TRUE(std::holds_alternative<Authorization>(outcome));
  EXPECT_EQ(std::get<Authorization>(outcome).account.id, other.id);
}

TEST_F(AuthorizerTest, EndpointNoAccountOwnsAddressesNone) {
  EXPECT_FALSE(authorizer_.accountFor("nosuch-ats.iot.us-east-1.example.com"));
  // Names outside the device endpoints (no SNI, localhost, an address) mean the default account.
  for (std::string_view name : {"", "localhost", "127.0.0.1"}) {
    auto account = authorizer_.accountFor(name);
    ASSERT_TRUE(account) << name;
    EXPECT_EQ(account->id, account_.id);
  }
}

TEST_F(AuthorizerTest, AccountMadeElsewhereIsFoundOnceASecondHasPassed) {
  authorizer_.accountFor("");  // loads the accounts
  // Another process (`fleetgate account create`) sends no event to this one.
  registry::EventBus elsewhere;
  registry::Registry other_process(registry::Registry::Dependencies{
      *db_, clock_, random_, device_issuer_, key_pool_, elsewhere, secrets_});
  ASSERT_TRUE(other_process
                  .createAccount({"210987654321", "us-east-1", "later", "AKIATESTTESTTEST0003",
                                  "secretsecretsecretsecret"})
                  .ok());
  const std::string endpoint = "later-ats.iot.us-east-1.example.com";
  EXPECT_FALSE(authorizer_.accountFor(endpoint));
  clock_.advance(std::chrono::seconds(1));
  auto account = authorizer_.accountFor(endpoint);
  ASSERT_TRUE(account);
  EXPECT_EQ(account->id, "210987654321");
}

TEST_F(AuthorizerTest, RequiredServerNameRefusesClientsWithoutOne) {
  Authorizer strict(*registry_, index_, clock_, account_.id, "example.com", true);
  EXPECT_FALSE(strict.accountFor(""));
  EXPECT_FALSE(strict.accountFor("localhost"));
  auto account = strict.accountFor(account_.endpoint_prefix + "-ats.iot.us-east-1.example.com");
  ASSERT_TRUE(account);
  EXPECT_EQ(account->id, account_.id);
}

TEST_F(AuthorizerTest, PendingActivationRefusalCarriesTheRegistration) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, registry::CertificateStatus::kInactive).ok());
  auto outcome = authorize(cert, "c");
  ASSERT_EQ(failureOf(outcome), AuthFailure::kCertificateNotActive);
  const auto& refusal = std::get<Refusal>(outcome);
  ASSERT_TRUE(refusal.certificate);
  EXPECT_EQ(refusal.certificate->id, cert.id);
  EXPECT_EQ(refusal.certificate->status, registry::CertificateStatus::kInactive);
}

TEST_F(AuthorizerTest, PoliciesWithoutVariablesAreCompiledOnceForAllConnections) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->createPolicy(account_, "all", R"({"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]})").ok());
  attach("all", account_.arn("cert", cert.id));
  auto a = authorize(cert, "client-a");
  auto b = authorize(cert, "client-b");
  ASSERT_TRUE(std::holds_alternative<Authorization>(a));
  ASSERT_TRUE(std::holds_alternative<Authorization>(b));
  EXPECT_EQ(std::get<Authorization>(a).policy, std::get<Authorization>(b).policy);

  // With a variable each connection gets its own substitution.
  ASSERT_TRUE(registry_->detachPolicy(account_, "all", account_.arn("cert", cert.id)).ok());
  ASSERT_TRUE(registry_->createPolicy(account_, "own", R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/*","arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}"]}]})").ok());
  attach("own", account_.arn("cert", cert.id));
  a = authorize(cert, "client-a");
  b = authorize(cert, "client-b");
  const auto& pa = *std::get<Authorization>(a).policy;
  const auto& pb = *std::get<Authorization>(b).policy;
  EXPECT_NE(&pa, &pb);
  using policy::Action;
  using policy::ResourceKind;
  EXPECT_TRUE(isAllowed(pa.check(Action::kPublish, ResourceKind::kTopic, "client-a")));
  EXPECT_TRUE(isAllowed(pb.check(Action::kPublish, ResourceKind::kTopic, "client-b")));
  EXPECT_FALSE(isAllowed(pa.check(Action::kPublish, ResourceKind::kTopic, "client-b")));
}

TEST_F(AuthorizerTest, PolicyChangesReachTheNextAuthorization) {
  auto cert = activeCertificate();
  ASSERT_TRUE(registry_->createPolicy(account_, "p", R"({"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})").ok());
  attach("p", account_.arn("cert", cert.id));
  ASSERT_TRUE(std::holds_alternative<Authorization>(authorize(cert, "c")));  // now cached
  auto v2 = registry_->createPolicyVersion(account_, "p", R"({"Statement":[{"Effect":"Deny","Action":"iot:Connect","Resource":"*"}]})", true);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(failureOf(authorize(cert, "c")), AuthFailure::kConnectDenied);
}

}  // namespace
}  // namespace fleetgate::broker
