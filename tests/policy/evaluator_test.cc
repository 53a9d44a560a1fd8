#include "policy/evaluator.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace fleetgate::policy {
namespace {

constexpr std::string_view kRegion = "eu-west-1";
constexpr std::string_view kAccount = "123456789012";

Document parseOk(std::string_view json) {
  auto result = parseDocument(json);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message()) << "\n" << json;
  return result.ok() ? std::move(result).value() : Document{};
}

// One document of the given version with the given statements, compiled for context. "{p}" in
// the statements stands for "arn:aws:iot:<region>:<account>:", to keep long ARNs readable.
CompiledPolicy compileStatements(std::string_view statements, const ConnectionContext& context,
                                 std::string_view version = kVersion2012) {
  std::string json = R"({"Version": ")" + std::string(version) + R"(", "Statement": [)" +
                     std::string(statements) + "]}";
  const std::string prefix =
      "arn:aws:iot:" + std::string(kRegion) + ":" + std::string(kAccount) + ":";
  for (std::size_t at = json.find("{p}"); at != std::string::npos; at = json.find("{p}", at)) {
    json.replace(at, 3, prefix);
  }
  return CompiledPolicy::compile({parseOk(json)}, context, kRegion, kAccount);
}

std::string topic(std::string_view name) { return topicArn(kRegion, kAccount, name); }
std::string filter(std::string_view name) { return topicFilterArn(kRegion, kAccount, name); }
std::string client(std::string_view name) { return clientArn(kRegion, kAccount, name); }

ConnectionContext contextFor(std::string client_id) {
  ConnectionContext context;
  context.client_id = std::move(client_id);
  context.source_ip = "192.0.2.10";
  return context;
}

// An Allow on iot:Connect for any client, gated by one condition block.
CompiledPolicy connectIf(std::string_view condition, const ConnectionContext& context) {
  return compileStatements(
      R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": )" +
          std::string(condition) + "}",
      context);
}
bool connects(std::string_view condition, const ConnectionContext& context) {
  return connectIf(condition, context).allows(Action::kConnect, client(context.client_id));
}

TEST(PolicyEvaluatorTest, ArnHelpers) {
  EXPECT_EQ(topic("a/b"), "arn:aws:iot:eu-west-1:123456789012:topic/a/b");
  EXPECT_EQ(filter("a/+"), "arn:aws:iot:eu-west-1:123456789012:topicfilter/a/+");
  EXPECT_EQ(client("c1"), "arn:aws:iot:eu-west-1:123456789012:client/c1");
  EXPECT_EQ(thingArn(kRegion, kAccount, "t"), "arn:aws:iot:eu-west-1:123456789012:thing/t");
  EXPECT_EQ(thingArn(kRegion, kAccount, "t", "s"), "arn:aws:iot:eu-west-1:123456789012:thing/t/s");
  EXPECT_EQ(resourceArn(ResourceKind::kRoleAlias, kRegion, kAccount, "r"),
            "arn:aws:iot:eu-west-1:123456789012:rolealias/r");
  EXPECT_EQ(actionName(Action::kRetainPublish), "iot:RetainPublish");
}

TEST(PolicyEvaluatorTest, ImplicitDenyWithNoDocuments) {
  CompiledPolicy policy = CompiledPolicy::compile({}, contextFor("c"), kRegion, kAccount);
  EXPECT_EQ(policy.check(Action::kConnect, client("c")), Decision::kImplicitDeny);
}

// Spec §7.1: the documented claim-certificate policy.
TEST(PolicyEvaluatorTest, ClaimPolicy) {
  std::string json = R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
       "arn:aws:iot:eu-west-1:123456789012:topic/$aws/certificates/create/*",
       "arn:aws:iot:eu-west-1:123456789012:topic/$aws/provisioning-templates/Fleet/provision/*"]},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
       "arn:aws:iot:eu-west-1:123456789012:topicfilter/$aws/certificates/create/*",
     "arn:aws:iot:eu-west-1:123456789012:topicfilter/$aws/provisioning-templates/Fleet/provision/*"
    ]}]})";
  CompiledPolicy policy =
      CompiledPolicy::compile({parseOk(json)}, contextFor("dev-1"), kRegion, kAccount);
  EXPECT_TRUE(policy.allows(Action::kConnect, client("anything")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("$aws/certificates/create/json")));
  EXPECT_TRUE(policy.allows(Action::kReceive, topic("$aws/certificates/create/json/accepted")));
  EXPECT_TRUE(
      policy.allows(Action::kPublish, topic("$aws/provisioning-templates/Fleet/provision/json")));
  EXPECT_TRUE(policy.allows(Action::kSubscribe, filter("$aws/certificates/create/json/+")));
  EXPECT_EQ(policy.check(Action::kSubscribe, ResourceKind::kTopicFilter,
                         "$aws/certificates/create/json/accepted"),
            Decision::kAllow);
  // Neighbours: other template, other topic, subscribe on a topic ARN, publish on a filter ARN.
  EXPECT_FALSE(
      policy.allows(Action::kPublish, topic("$aws/provisioning-templates/Other/provision/json")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("$aws/things/x/shadow/update")));
  EXPECT_FALSE(policy.allows(Action::kSubscribe, topic("$aws/certificates/create/json")));
  EXPECT_FALSE(policy.allows(Action::kPublish, filter("$aws/certificates/create/json")));
  EXPECT_FALSE(policy.allows(Action::kRetainPublish, topic("$aws/certificates/create/json")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("$aws/certificates/create")));
  // Another account or region is another resource.
  EXPECT_FALSE(policy.allows(
      Action::kPublish, "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/j"));
  EXPECT_EQ(policy.check(Action::kPublish, ResourceKind::kTopic, "$aws/certificates/create/j"),
            Decision::kAllow);
}

TEST(PolicyEvaluatorTest, DenyWinsOverBroadAllow) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": "iot:*", "Resource": "*"},
         {"Effect": "Deny", "Action": "iot:Publish",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:topic/admin/*"})",
      contextFor("c"));
  EXPECT_EQ(policy.check(Action::kPublish, topic("admin/reset")), Decision::kExplicitDeny);
  EXPECT_EQ(policy.check(Action::kPublish, topic("user/reset")), Decision::kAllow);
  EXPECT_EQ(policy.check(Action::kReceive, topic("admin/reset")), Decision::kAllow);
}

TEST(PolicyEvaluatorTest, DenyWinsAcrossDocuments) {
  Document allow = parseOk(R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})");
  Document deny = parseOk(R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:eu-west-1:123456789012:client/bad"}]})");
  CompiledPolicy policy =
      CompiledPolicy::compile({allow, deny}, contextFor("c"), kRegion, kAccount);
  EXPECT_EQ(policy.check(Action::kConnect, client("bad")), Decision::kExplicitDeny);
  EXPECT_EQ(policy.check(Action::kConnect, client("good")), Decision::kAllow);
}

TEST(PolicyEvaluatorTest, ResourceGlobsCrossLevelsAndPlusHashAreLiteral) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": ["iot:Publish", "iot:Subscribe"], "Resource": [
          "arn:aws:iot:eu-west-1:123456789012:topic/a/*/z",
          "arn:aws:iot:eu-west-1:123456789012:topic/q/?",
          "arn:aws:iot:eu-west-1:123456789012:topicfilter/f/+/c",
          "arn:aws:iot:eu-west-1:123456789012:topicfilter/h/#"]})",
      contextFor("c"));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("a/b/c/d/z")));  // '*' crosses '/'
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("a//z")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("a/b/c/d/y")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("q/1")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("q/\xc3\xa9")));  // one character, two bytes
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("q/12")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("q/")));
  // '+' and '#' only match themselves.
  EXPECT_TRUE(policy.allows(Action::kSubscribe, filter("f/+/c")));
  EXPECT_FALSE(policy.allows(Action::kSubscribe, filter("f/b/c")));
  EXPECT_TRUE(policy.allows(Action::kSubscribe, filter("h/#")));
  EXPECT_FALSE(policy.allows(Action::kSubscribe, filter("h/x")));
  // Resources are case-sensitive.
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("A/b/Z")));
}

TEST(PolicyEvaluatorTest, ActionsMatchCaseInsensitivelyWithGlobs) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": ["IOT:publish", "iot:Get*Shadow", "iot:Receiv?"],
          "Resource": "*"})",
      contextFor("c"));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("t")));
  EXPECT_TRUE(policy.allows(Action::kGetThingShadow, thingArn(kRegion, kAccount, "t")));
  EXPECT_TRUE(policy.allows(Action::kReceive, topic("t")));
  EXPECT_FALSE(policy.allows(Action::kUpdateThingShadow, thingArn(kRegion, kAccount, "t")));
  EXPECT_FALSE(policy.allows(Action::kRetainPublish, topic("t")));
  EXPECT_FALSE(policy.allows(Action::kConnect, client("c")));
}

TEST(PolicyEvaluatorTest, NotActionAndNotResource) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "NotAction": "iot:Connect", "Resource": "*"},
         {"Effect": "Allow", "Action": "iot:Connect",
          "NotResource": "arn:aws:iot:eu-west-1:123456789012:client/admin*"},
         {"Effect": "Deny", "Action": "iot:Publish",
          "NotResource": "arn:aws:iot:eu-west-1:123456789012:topic/open/*"})",
      contextFor("c"));
  EXPECT_TRUE(policy.allows(Action::kSubscribe, filter("x")));
  EXPECT_TRUE(policy.allows(Action::kConnect, client("device")));
  EXPECT_FALSE(policy.allows(Action::kConnect, client("admin-1")));
  EXPECT_EQ(policy.check(Action::kPublish, topic("open/1")), Decision::kAllow);
  EXPECT_EQ(policy.check(Action::kPublish, topic("closed/1")), Decision::kExplicitDeny);
}

// Spec §8.4: ${iot:ClientId} in a topic.
TEST(PolicyEvaluatorTest, ClientIdVariable) {
  constexpr std::string_view kStatements =
      R"({"Effect": "Allow", "Action": "iot:Connect",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:client/${iot:ClientId}"},
         {"Effect": "Allow", "Action": "iot:Publish",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:topic/devices/${iot:ClientId}/*"},
         {"Effect": "Allow", "Action": "iot:Subscribe",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:topicfilter/devices/${iot:ClientId}"})";
  CompiledPolicy policy = compileStatements(kStatements, contextFor("dev-1"));
  EXPECT_TRUE(policy.allows(Action::kConnect, client("dev-1")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("devices/dev-1/telemetry")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("devices/dev-2/telemetry")));
  EXPECT_TRUE(policy.allows(Action::kSubscribe, filter("devices/dev-1")));
  EXPECT_FALSE(policy.allows(Action::kSubscribe, filter("devices/+")));
  // The literal variable text is not a grant either.
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("devices/${iot:ClientId}/telemetry")));
}

// Spec §8.4 security note: a client id with a wildcard character is not substituted, so "+" can
// not turn a topicfilter grant into a wildcard subscription; nor can "*" widen a topic grant.
TEST(PolicyEvaluatorTest, WildcardClientIdsAreNotSubstituted) {
  constexpr std::string_view kStatements =
      R"({"Effect": "Allow", "Action": ["iot:Subscribe", "iot:Publish"], "Resource": [
          "arn:aws:iot:eu-west-1:123456789012:topicfilter/devices/${iot:ClientId}",
          "arn:aws:iot:eu-west-1:123456789012:topic/devices/${iot:ClientId}"]})";
  for (std::string id : {"+", "#", "*", "a*", "?", "$x"}) {
    CompiledPolicy policy = compileStatements(kStatements, contextFor(id));
    EXPECT_FALSE(policy.allows(Action::kSubscribe, filter("devices/" + id))) << id;
    EXPECT_FALSE(policy.allows(Action::kSubscribe, filter("devices/other"))) << id;
    EXPECT_FALSE(policy.allows(Action::kPublish, topic("devices/other"))) << id;
    EXPECT_FALSE(policy.allows(Action::kSubscribe, filter("devices/${iot:ClientId}"))) << id;
  }
  CompiledPolicy plain = compileStatements(kStatements, contextFor("plain"));
  EXPECT_TRUE(plain.allows(Action::kSubscribe, filter("devices/plain")));
  EXPECT_TRUE(plain.allows(Action::kPublish, topic("devices/plain")));
}

TEST(PolicyEvaluatorTest, OverlongValuesAreNotSubstituted) {
  constexpr std::string_view kStatement =
      R"({"Effect": "Allow", "Action": "iot:Publish",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:topic/d/${iot:ClientId}"})";
  std::string at_limit(kMaxSubstitutedLength, 'x');
  std::string over_limit(kMaxSubstitutedLength + 1, 'x');
  EXPECT_TRUE(compileStatements(kStatement, contextFor(at_limit))
                  .allows(Action::kPublish, topic("d/" + at_limit)));
  EXPECT_FALSE(compileStatements(kStatement, contextFor(over_limit))
                   .allows(Action::kPublish, topic("d/" + over_limit)));
}

TEST(PolicyEvaluatorTest, Version2008LeavesVariablesLiteral) {
  constexpr std::string_view kStatement =
      R"({"Effect": "Allow", "Action": "iot:Publish",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:topic/d/${iot:ClientId}"})";
  CompiledPolicy old = compileStatements(kStatement, contextFor("c1"), kVersion2008);
  EXPECT_FALSE(old.allows(Action::kPublish, topic("d/c1")));
  EXPECT_TRUE(old.allows(Action::kPublish, topic("d/${iot:ClientId}")));
  CompiledPolicy current = compileStatements(kStatement, contextFor("c1"), kVersion2012);
  EXPECT_TRUE(current.allows(Action::kPublish, topic("d/c1")));
  // An absent Version means 2008-10-17.
  Document no_version = parseOk(R"({"Statement": [)" + std::string(kStatement) + "]}");
  CompiledPolicy absent =
      CompiledPolicy::compile({no_version}, contextFor("c1"), kRegion, kAccount);
  EXPECT_FALSE(absent.allows(Action::kPublish, topic("d/c1")));
}

TEST(PolicyEvaluatorTest, IamLiteralEscapes) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": "iot:Publish",
          "Resource": "arn:aws:iot:eu-west-1:123456789012:topic/lit/${*}/${?}/${$}"})",
      contextFor("c"));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("lit/*/?/$")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("lit/a/b/$")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("lit/*/?/x")));
}

ConnectionContext thingContext() {
  ConnectionContext context = contextFor("Thing1");
  context.thing = ThingContext{"Thing1", "Sensor", {{"room", "r12"}, {"floor", "3"}}, true};
  return context;
}

TEST(PolicyEvaluatorTest, ThingVariables) {
  constexpr std::string_view kStatement =
      R"({"Effect": "Allow", "Action": "iot:Publish", "Resource": [
          "arn:aws:iot:eu-west-1:123456789012:topic/things/${iot:Connection.Thing.ThingName}/*",
          "arn:aws:iot:eu-west-1:123456789012:topic/types/${iot:Connection.Thing.ThingTypeName}",
          "arn:aws:iot:eu-west-1:123456789012:topic/rooms/${iot:Connection.Thing.Attributes[room]}"
         ]})";
  CompiledPolicy policy = compileStatements(kStatement, thingContext());
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("things/Thing1/x")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("things/Thing2/x")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("types/Sensor")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("types/Other")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("rooms/r12")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("rooms/r13")));
  // No identified thing: nothing resolves, nothing is granted.
  CompiledPolicy anonymous = compileStatements(kStatement, contextFor("Thing1"));
  EXPECT_FALSE(anonymous.allows(Action::kPublish, topic("things/Thing1/x")));
  EXPECT_FALSE(
      anonymous.allows(Action::kPublish, topic("things/${iot:Connection.Thing.ThingName}/x")));
  EXPECT_EQ(anonymous.statementCount(), 0u);
}

TEST(PolicyEvaluatorTest, IsAttachedBool) {
  constexpr std::string_view kCondition =
      R"({"Bool": {"iot:Connection.Thing.IsAttached": "true"}})";
  EXPECT_TRUE(connects(kCondition, thingContext()));
  ConnectionContext detached = thingContext();
  detached.thing->is_attached = false;
  EXPECT_FALSE(connects(kCondition, detached));
  EXPECT_FALSE(connects(kCondition, contextFor("Thing1")));
  EXPECT_TRUE(connects(R"({"Bool": {"iot:Connection.Thing.IsAttached": "false"}})", detached));
  EXPECT_FALSE(connects(R"({"Bool": {"iot:Connection.Thing.IsAttached": "yes"}})", thingContext()));
}

ConnectionContext certificateContext() {
  ConnectionContext context = contextFor("c1");
  EXPECT_TRUE(addCertificateAttribute(context.subject, "CN", "device-7"));
  EXPECT_TRUE(addCertificateAttribute(context.subject, "OU", "ou-a"));
  EXPECT_TRUE(addCertificateAttribute(context.subject, "OU", "ou-b"));
  EXPECT_TRUE(addCertificateAttribute(context.subject, "O", "Acme, Inc."));
  EXPECT_FALSE(addCertificateAttribute(context.subject, "L", "Berlin"));
  EXPECT_TRUE(addCertificateAttribute(context.issuer, "CN", "Acme CA"));
  context.subject_alt_names[std::string(kAltDnsName)] = {"a.example", "b.example"};
  context.certificate_serial = "0a1b";
  return context;
}

TEST(PolicyEvaluatorTest, CertificateAttributeNameMapping) {
  EXPECT_EQ(certificateAttributeName("CN"), "CommonName");
  EXPECT_EQ(certificateAttributeName("SN"), "Surname");
  EXPECT_EQ(certificateAttributeName("serialNumber"), "SerialNumber");
  EXPECT_EQ(certificateAttributeName("dnQualifier"), "DistinguishedNameQualifier");
  EXPECT_EQ(certificateAttributeName("L"), std::nullopt);
  EXPECT_EQ(certificateAttributeName("cn"), std::nullopt);
}

TEST(PolicyEvaluatorTest, CertificateVariablesIndexAndEscaping) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": "iot:Publish", "Resource": [
          "arn:aws:iot:eu-west-1:123456789012:topic/cn/${iot:Certificate.Subject.CommonName}",
          "{p}topic/ou0/${iot:Certificate.Subject.OrganizationalUnit}",
          "{p}topic/ou1/${iot:Certificate.Subject.OrganizationalUnit.1}",
          "{p}topic/ou2/${iot:Certificate.Subject.OrganizationalUnit.2}",
          "arn:aws:iot:eu-west-1:123456789012:topic/org/${iot:Certificate.Subject.Organization}",
          "arn:aws:iot:eu-west-1:123456789012:topic/ca/${iot:Certificate.Issuer.CommonName}",
          "arn:aws:iot:eu-west-1:123456789012:topic/serial/${iot:Certificate.SerialNumber}",
          "{p}topic/dns/${iot:Certificate.Subject.AlternativeName.DNSName.1}"
         ]})",
      certificateContext());
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("cn/device-7")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("cn/device-8")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("ou0/ou-a")));
  // ".1" is the second value (AWS's example), not the first.
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("ou1/ou-b")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("ou1/ou-a")));
  // A missing index is not substituted.
  EXPECT_FALSE(policy.allows(Action::kPublish,
                             topic("ou2/${iot:Certificate.Subject.OrganizationalUnit.2}")));
  // ',' is backslash-escaped in the substituted value.
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("org/Acme\\, Inc.")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("org/Acme, Inc.")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("ca/Acme CA")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("serial/0a1b")));
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("dns/b.example")));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("dns/a.example")));
}

TEST(PolicyEvaluatorTest, CertificateListWithSetQualifiers) {
  ConnectionContext context = certificateContext();
  EXPECT_TRUE(connects(
      R"({"ForAnyValue:StringEquals":
           {"iot:Certificate.Subject.OrganizationalUnit.List": ["ou-b", "ou-z"]}})",
      context));
  EXPECT_FALSE(connects(
      R"({"ForAnyValue:StringEquals":
           {"iot:Certificate.Subject.OrganizationalUnit.List": ["ou-y", "ou-z"]}})",
      context));
  EXPECT_TRUE(connects(
      R"({"ForAllValues:StringLike":
           {"iot:Certificate.Subject.OrganizationalUnit.List": ["ou-*"]}})",
      context));
  EXPECT_FALSE(connects(
      R"({"ForAllValues:StringEquals":
           {"iot:Certificate.Subject.OrganizationalUnit.List": ["ou-a"]}})",
      context));
  // .List is a set: never substituted into a resource.
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": "iot:Publish", "Resource":
          "{p}topic/${iot:Certificate.Subject.OrganizationalUnit.List}"})",
      context);
  EXPECT_EQ(policy.statementCount(), 0u);
  // Values beyond the fifth are dropped.
  ConnectionContext many = contextFor("c");
  many.subject["OrganizationalUnit"] = {"0", "1", "2", "3", "4", "5"};
  EXPECT_TRUE(connects(
      R"({"ForAnyValue:StringEquals": {"iot:Certificate.Subject.OrganizationalUnit.List": "4"}})",
      many));
  EXPECT_FALSE(connects(
      R"({"ForAnyValue:StringEquals": {"iot:Certificate.Subject.OrganizationalUnit.List": "5"}})",
      many));
}

TEST(PolicyEvaluatorTest, CertificateCommonNameCondition) {
  ConnectionContext context = certificateContext();
  EXPECT_TRUE(
      connects(R"({"StringEquals": {"iot:Certificate.Subject.CommonName": "device-7"}})", context));
  context.client_id = "device-7";
  EXPECT_TRUE(connects(
      R"({"StringEquals": {"iot:Certificate.Subject.CommonName": "${iot:ClientId}"}})", context));
  context.client_id = "device-8";
  EXPECT_FALSE(connects(
      R"({"StringEquals": {"iot:Certificate.Subject.CommonName": "${iot:ClientId}"}})", context));
}

TEST(PolicyEvaluatorTest, StringOperators) {
  ConnectionContext context = contextFor("Sensor-42");
  EXPECT_TRUE(connects(R"({"StringEquals": {"iot:ClientId": ["x", "Sensor-42"]}})", context));
  EXPECT_FALSE(connects(R"({"StringEquals": {"iot:ClientId": "sensor-42"}})", context));
  EXPECT_TRUE(connects(R"({"StringNotEquals": {"iot:ClientId": "other"}})", context));
  EXPECT_FALSE(
      connects(R"({"StringNotEquals": {"iot:ClientId": ["other", "Sensor-42"]}})", context));
  EXPECT_TRUE(connects(R"({"StringEqualsIgnoreCase": {"iot:ClientId": "SENSOR-42"}})", context));
  EXPECT_FALSE(connects(R"({"StringEqualsIgnoreCase": {"iot:ClientId": "SENSOR-43"}})", context));
  EXPECT_TRUE(connects(R"({"StringNotEqualsIgnoreCase": {"iot:ClientId": "SENSOR-43"}})", context));
  EXPECT_FALSE(
      connects(R"({"StringNotEqualsIgnoreCase": {"iot:ClientId": "SENSOR-42"}})", context));
  EXPECT_TRUE(connects(R"({"StringLike": {"iot:ClientId": "Sensor-*"}})", context));
  EXPECT_TRUE(connects(R"({"StringLike": {"iot:ClientId": "Sensor-4?"}})", context));
  EXPECT_FALSE(connects(R"({"StringLike": {"iot:ClientId": "Actuator-*"}})", context));
  EXPECT_TRUE(connects(R"({"StringNotLike": {"iot:ClientId": "Actuator-*"}})", context));
  EXPECT_FALSE(connects(R"({"StringNotLike": {"iot:ClientId": "Sensor-*"}})", context));
  // StringEquals treats '*' literally.
  EXPECT_FALSE(connects(R"({"StringEquals": {"iot:ClientId": "Sensor-*"}})", context));
  // Key names are case-insensitive.
  EXPECT_TRUE(connects(R"({"StringEquals": {"IOT:clientid": "Sensor-42"}})", context));
}

TEST(PolicyEvaluatorTest, IpAddressOperators) {
  ConnectionContext v4 = contextFor("c");
  v4.source_ip = "192.0.2.10";
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})", v4));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.3.0/24"}})", v4));
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.10"}})", v4));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.11/32"}})", v4));
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.8/29"}})", v4));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.0/29"}})", v4));
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})", v4));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.0/33"}})", v4));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}})", v4));
  EXPECT_TRUE(connects(R"({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})", v4));
  EXPECT_FALSE(
      connects(R"({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}})", v4));

  ConnectionContext v6 = contextFor("c");
  v6.source_ip = "2001:db8:0:1::5";
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}})", v6));
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "2001:db8:0:1::/64"}})", v6));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "2001:db8:0:2::/64"}})", v6));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})", v6));
  EXPECT_TRUE(connects(R"({"NotIpAddress": {"aws:SourceIp": "2001:db9::/32"}})", v6));
  EXPECT_FALSE(connects(R"({"NotIpAddress": {"aws:SourceIp": "2001:db8::/31"}})", v6));

  // An IPv4-mapped IPv6 peer matches IPv4 ranges.
  ConnectionContext mapped = contextFor("c");
  mapped.source_ip = "::ffff:192.0.2.10";
  EXPECT_TRUE(connects(R"({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})", mapped));
  EXPECT_FALSE(connects(R"({"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}})", mapped));
}

TEST(PolicyEvaluatorTest, ConnectAttributes) {
  constexpr std::string_view kOnlyPersistent =
      R"({"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}})";
  constexpr std::string_view kAnyLastWill =
      R"({"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}})";
  constexpr std::string_view kNoLastWill =
      R"({"ForAllValues:StringNotEquals": {"iot:ConnectAttributes": ["LastWill"]}})";
  ConnectionContext plain = contextFor("c");
  ConnectionContext persistent = contextFor("c");
  persistent.persistent_connect = true;
  ConnectionContext with_will = contextFor("c");
  with_will.persistent_connect = true;
  with_will.last_will_topic = "wills/c";

  EXPECT_TRUE(connects(kOnlyPersistent, plain));  // IAM: vacuously true for an empty set
  EXPECT_TRUE(connects(kOnlyPersistent, persistent));
  EXPECT_FALSE(connects(kOnlyPersistent, with_will));
  EXPECT_FALSE(connects(kAnyLastWill, plain));
  EXPECT_FALSE(connects(kAnyLastWill, persistent));
  EXPECT_TRUE(connects(kAnyLastWill, with_will));
  EXPECT_TRUE(connects(kNoLastWill, persistent));
  EXPECT_FALSE(connects(kNoLastWill, with_will));
}

TEST(PolicyEvaluatorTest, LastWillTopic) {
  ConnectionContext with_will = contextFor("c");
  with_will.last_will_topic = "wills/c";
  std::string condition =
      R"({"StringEquals": {"iot:LastWillTopic": ")" + topic("wills/c") + R"("}})";
  EXPECT_TRUE(connects(condition, with_will));
  with_will.last_will_topic = "wills/d";
  EXPECT_FALSE(connects(condition, with_will));
  EXPECT_FALSE(connects(condition, contextFor("c")));
  EXPECT_TRUE(connects(R"({"StringLike": {"iot:LastWillTopic": "{p}topic/wills/*"}})", with_will));
}

TEST(PolicyEvaluatorTest, IfExistsAndMissingKeys) {
  ConnectionContext anonymous = contextFor("c");  // no thing
  constexpr std::string_view kThingIs =
      R"({"StringEquals": {"iot:Connection.Thing.ThingName": "T"}})";
  constexpr std::string_view kThingIsIfExists =
      R"({"StringEqualsIfExists": {"iot:Connection.Thing.ThingName": "T"}})";
  EXPECT_FALSE(connects(kThingIs, anonymous));
  EXPECT_TRUE(connects(kThingIsIfExists, anonymous));
  ConnectionContext thing_t = contextFor("T");
  thing_t.thing = ThingContext{"T", "", {}, true};
  EXPECT_TRUE(connects(kThingIsIfExists, thing_t));
  thing_t.thing->name = "U";
  EXPECT_FALSE(connects(kThingIsIfExists, thing_t));
  // IAM: an absent key satisfies a negated operator.
  EXPECT_TRUE(
      connects(R"({"StringNotEquals": {"iot:Connection.Thing.ThingName": "T"}})", anonymous));
  // An unknown key is false without IfExists, true with it.
  EXPECT_FALSE(connects(R"({"StringEquals": {"iot:NoSuchKey": "x"}})", anonymous));
  EXPECT_FALSE(connects(R"({"StringNotEquals": {"iot:NoSuchKey": "x"}})", anonymous));
  EXPECT_TRUE(connects(R"({"StringNotEqualsIfExists": {"iot:NoSuchKey": "x"}})", anonymous));
  EXPECT_FALSE(connects(R"({"StringEquals": {"iot:Certificate.Subject.Locality": "x"}})",
                        certificateContext()));
  // Null: true checks absence.
  EXPECT_TRUE(connects(R"({"Null": {"iot:Connection.Thing.ThingName": "true"}})", anonymous));
  EXPECT_FALSE(connects(R"({"Null": {"iot:Connection.Thing.ThingName": "false"}})", anonymous));
  EXPECT_TRUE(connects(R"({"Null": {"iot:Connection.Thing.ThingName": "false"}})", thing_t));
}

TEST(PolicyEvaluatorTest, AllConditionsOfAStatementMustHold) {
  ConnectionContext context = contextFor("dev-1");
  constexpr std::string_view kBoth =
      R"({"StringLike": {"iot:ClientId": "dev-*"}, "IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})";
  EXPECT_TRUE(connects(kBoth, context));
  context.source_ip = "198.51.100.1";
  EXPECT_FALSE(connects(kBoth, context));
}

TEST(PolicyEvaluatorTest, NumericOperators) {
  ConnectionContext context = thingContext();  // attribute floor = 3
  EXPECT_TRUE(
      connects(R"({"NumericLessThan": {"iot:Connection.Thing.Attributes[floor]": "4"}})", context));
  EXPECT_FALSE(
      connects(R"({"NumericLessThan": {"iot:Connection.Thing.Attributes[floor]": "3"}})", context));
  EXPECT_TRUE(connects(
      R"({"NumericGreaterThanEquals": {"iot:Connection.Thing.Attributes[floor]": 3}})", context));
  EXPECT_FALSE(connects(R"({"NumericNotEquals": {"iot:Connection.Thing.Attributes[floor]": "3"}})",
                        context));
}

// Date and binary operators have no connection key to apply to: an Allow with one never grants,
// a Deny with one always applies.
TEST(PolicyEvaluatorTest, UnsupportedOperatorsFailClosed) {
  ConnectionContext context = contextFor("c");
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"},
         {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
          "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
         {"Effect": "Deny", "Action": "iot:Receive", "Resource": "*",
          "Condition": {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
         {"Effect": "Allow", "Action": "iot:Receive", "Resource": "*"})",
      context);
  EXPECT_TRUE(policy.allows(Action::kPublish, topic("t")));
  EXPECT_FALSE(policy.allows(Action::kConnect, client("c")));
  EXPECT_EQ(policy.check(Action::kReceive, topic("t")), Decision::kExplicitDeny);
}

// A Deny whose variable does not resolve keeps the literal text (as AWS) and so does not apply;
// an Allow with NotResource and an unresolved exception is dropped rather than widened.
TEST(PolicyEvaluatorTest, UnresolvedVariablesNeverWidenGrants) {
  CompiledPolicy policy = compileStatements(
      R"({"Effect": "Allow", "Action": "iot:Publish",
          "NotResource": "{p}topic/${iot:Connection.Thing.ThingName}/*"},
         {"Effect": "Allow", "Action": "iot:Receive",
          "NotResource": "arn:aws:iot:eu-west-1:123456789012:topic/${iot:ClientId}/*"})",
      contextFor("c"));
  EXPECT_FALSE(policy.allows(Action::kPublish, topic("any")));
  EXPECT_TRUE(policy.allows(Action::kReceive, topic("any")));
  EXPECT_FALSE(policy.allows(Action::kReceive, topic("c/x")));
}

}  // namespace
}  // namespace fleetgate::policy
