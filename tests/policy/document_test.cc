#include "policy/document.h"

#include <gtest/gtest.h>

#include <string>

namespace fleetgate::policy {
namespace {

Document parseOk(std::string_view json) {
  auto result = parseDocument(json);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message()) << "\n" << json;
  return result.ok() ? std::move(result).value() : Document{};
}

void expectMalformed(std::string_view json, std::string_view message_part = {}) {
  auto result = parseDocument(json);
  ASSERT_FALSE(result.ok()) << json;
  EXPECT_EQ(result.error().kind(), ErrorKind::kMalformedPolicy) << json;
  EXPECT_NE(result.error().message().find(message_part), std::string::npos)
      << result.error().message();
}

// A statement body wrapped into a full document, so each malformed variant differs in one place.
std::string withStatement(std::string_view statement) {
  return R"({"Version": "2012-10-17", "Statement": [)" + std::string(statement) + "]}";
}

TEST(PolicyDocumentTest, ParsesSpecSection8Structure) {
  Document doc = parseOk(R"({
    "Version": "2012-10-17",
    "Statement": [
      {"Effect": "Allow",
       "Action": ["iot:Publish", "iot:Receive"],
       "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/sensors/${iot:ClientId}", "*"],
       "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
      {"Effect": "Deny", "Action": "iot:Connect",
       "Resource": "arn:aws:iot:us-east-1:123456789012:client/admin"}
    ]})");
  ASSERT_EQ(doc.statements.size(), 2u);
  EXPECT_EQ(doc.version, "2012-10-17");
  EXPECT_TRUE(doc.substitutesVariables());
  const Statement& allow = doc.statements[0];
  EXPECT_EQ(allow.effect, Effect::kAllow);
  EXPECT_FALSE(allow.not_action);
  EXPECT_EQ(allow.actions, (std::vector<std::string>{"iot:Publish", "iot:Receive"}));
  EXPECT_EQ(allow.resources.size(), 2u);
  ASSERT_EQ(allow.conditions.size(), 1u);
  EXPECT_EQ(allow.conditions[0].op, "Bool");
  EXPECT_EQ(allow.conditions[0].base, ConditionOperator::kBool);
  EXPECT_EQ(allow.conditions[0].key, "iot:Connection.Thing.IsAttached");
  EXPECT_EQ(allow.conditions[0].values, std::vector<std::string>{"true"});
  EXPECT_EQ(doc.statements[1].effect, Effect::kDeny);
  EXPECT_EQ(doc.statements[1].actions, std::vector<std::string>{"iot:Connect"});
}

// Spec §7.1, the documented claim-certificate policy, with the placeholders filled in and as
// printed (placeholders in region/account are just text to the validator).
TEST(PolicyDocumentTest, ParsesFleetProvisioningClaimPolicy) {
  const std::string claim_policy = R"({"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
  {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
     "arn:aws:iot:{region}:{acct}:topic/$aws/certificates/create/*",
     "arn:aws:iot:{region}:{acct}:topic/$aws/provisioning-templates/{templateName}/provision/*"]},
  {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
     "arn:aws:iot:{region}:{acct}:topicfilter/$aws/certificates/create/*",
"arn:aws:iot:{region}:{acct}:topicfilter/$aws/provisioning-templates/{templateName}/provision/*"
  ]}]})";
  Document doc = parseOk(claim_policy);
  EXPECT_EQ(doc.statements.size(), 3u);

  std::string filled = claim_policy;
  for (auto [from, to] : {std::pair<std::string, std::string>{"{region}", "eu-west-1"},
                          {"{acct}", "123456789012"},
                          {"{templateName}", "FleetTemplate"}}) {
    for (auto pos = filled.find(from); pos != std::string::npos; pos = filled.find(from)) {
      filled.replace(pos, from.size(), to);
    }
  }
  doc = parseOk(filled);
  ASSERT_EQ(doc.statements.size(), 3u);
  EXPECT_EQ(doc.statements[2].resources[1],
            "arn:aws:iot:eu-west-1:123456789012:topicfilter/$aws/provisioning-templates/"
            "FleetTemplate/provision/*");
}

TEST(PolicyDocumentTest, ParsesConnectAttributeConditionsAndOperatorForms) {
  Document doc = parseOk(withStatement(R"({
    "Sid": "ConnectOnlyAsThing", "Effect": "Allow", "Action": "iot:Connect",
    "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
    "Condition": {
      "ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect", "LastWill"]},
      "ForAnyValue:StringLikeIfExists": {"iot:Certificate.Subject.CommonName.List": "dev-*"},
      "NumericLessThan": {"iot:Count": 5},
      "Null": {"iot:LastWillTopic": false},
      "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}})"));
  ASSERT_EQ(doc.statements.size(), 1u);
  const Statement& s = doc.statements[0];
  EXPECT_EQ(s.sid, "ConnectOnlyAsThing");
  ASSERT_EQ(s.conditions.size(), 5u);
  bool saw_for_all = false, saw_for_any = false, saw_numeric = false, saw_null = false;
  for (const Condition& c : s.conditions) {
    if (c.op == "ForAllValues:StringEquals") {
      saw_for_all = true;
      EXPECT_EQ(c.qualifier, SetQualifier::kForAllValues);
      EXPECT_EQ(c.base, ConditionOperator::kStringEquals);
      EXPECT_EQ(c.values, (std::vector<std::string>{"PersistentConnect", "LastWill"}));
    } else if (c.op == "ForAnyValue:StringLikeIfExists") {
      saw_for_any = true;
      EXPECT_EQ(c.qualifier, SetQualifier::kForAnyValue);
      EXPECT_EQ(c.base, ConditionOperator::kStringLike);
      EXPECT_TRUE(c.if_exists);
    } else if (c.op == "NumericLessThan") {
      saw_numeric = true;
      EXPECT_EQ(c.values, std::vector<std::string>{"5"});
    } else if (c.op == "Null") {
      saw_null = true;
      EXPECT_EQ(c.values, std::vector<std::string>{"false"});
    }
  }
  EXPECT_TRUE(saw_for_all && saw_for_any && saw_numeric && saw_null);
}

TEST(PolicyDocumentTest, AcceptsIamGrammarVariants) {
  // Single statement object, NotAction/NotResource, case-insensitive action prefix, glob names.
  Document doc = parseOk(R"({"Version": "2008-10-17", "Id": "p1", "Statement":
      {"Effect": "Deny", "NotAction": ["IOT:Connect", "iot:Get*", "iot:?ublish"],
       "NotResource": "arn:aws:iot:us-east-1:123456789012:topic/public/*"}})");
  ASSERT_EQ(doc.statements.size(), 1u);
  EXPECT_FALSE(doc.substitutesVariables());
  EXPECT_EQ(doc.id, "p1");
  EXPECT_TRUE(doc.statements[0].not_action);
  EXPECT_TRUE(doc.statements[0].not_resource);
  // Greengrass core device policies are AWS IoT policies.
  parseOk(withStatement(R"({"Effect": "Allow", "Action": ["greengrass:*", "iot:*", "*"],
      "Resource": ["arn:aws:greengrass:us-east-1:123456789012:coreDevices:core1", "*"]})"));
  // Wildcard ARN service and partitions other than aws.
  parseOk(withStatement(R"({"Effect": "Allow", "Action": "iot:Publish",
      "Resource": ["arn:*:*:*:*:topic/a", "arn:aws-cn:iot:cn-north-1:123456789012:topic/a"]})"));
}

TEST(PolicyDocumentTest, MissingVersionMeans2008) {
  Document doc = parseOk(R"({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})");
  EXPECT_EQ(doc.version, "2008-10-17");
  EXPECT_FALSE(doc.substitutesVariables());
}

TEST(PolicyDocumentTest, RejectsMalformedStatements) {
  expectMalformed(withStatement(R"({"Action": "iot:Connect", "Resource": "*"})"), "Effect");
  expectMalformed(withStatement(R"({"Effect": "allow", "Action": "iot:Connect", "Resource": "*"})"),
                  "Effect");
  expectMalformed(withStatement(R"({"Effect": true, "Action": "iot:Connect", "Resource": "*"})"),
                  "Effect");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Resource": "*"})"), "Action");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": [], "Resource": "*"})"), "Action");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": [1], "Resource": "*"})"),
                  "Action");
  expectMalformed(
      withStatement(R"({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})"),
      "s3:GetObject");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": "iot:", "Resource": "*"})"),
                  "iot:");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": "Publish", "Resource": "*"})"));
  expectMalformed(
      withStatement(R"({"Effect": "Allow", "Action": "iot:Pub-lish", "Resource": "*"})"));
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": "iot:Connect"})"), "Resource");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": 5})"),
                  "Resource");
  expectMalformed(
      withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": ["*", null]})"),
      "Resource");
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": []})"));
  expectMalformed(
      withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "topic/a"})"),
      "topic/a");
  expectMalformed(withStatement(
      R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:r:a"})"));
  expectMalformed(withStatement(
      R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:s3:::bucket/key"})"));
  expectMalformed(withStatement(R"({"Effect": "Allow", "Action": "iot:Connect",
      "NotAction": "iot:Publish", "Resource": "*"})"),
                  "NotAction");
  expectMalformed(
      withStatement(
          R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Principal": "*"})"),
      "Principal");
  expectMalformed(
      withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Extra": 1})"),
      "Extra");
  expectMalformed(
      withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Sid": 7})"),
      "Sid");
  expectMalformed(withStatement("[]"));
  expectMalformed(withStatement("\"Allow\""));
}

TEST(PolicyDocumentTest, RejectsMalformedConditions) {
  auto with_condition = [](std::string_view condition) {
    return withStatement(R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
                             "Condition": )" +
                         std::string(condition) + "}");
  };
  expectMalformed(with_condition(R"("x")"), "Condition");
  expectMalformed(with_condition(R"({"StringEqual": {"iot:ClientId": "a"}})"), "StringEqual");
  expectMalformed(with_condition(R"({"stringequals": {"iot:ClientId": "a"}})"));
  expectMalformed(with_condition(R"({"ForSomeValues:StringEquals": {"iot:ClientId": "a"}})"));
  expectMalformed(with_condition(R"({"NullIfExists": {"iot:ClientId": "true"}})"));
  expectMalformed(with_condition(R"({"StringEquals": "a"})"));
  expectMalformed(with_condition(R"({"StringEquals": {}})"));
  expectMalformed(with_condition(R"({"StringEquals": {"iot:ClientId": null}})"));
  expectMalformed(with_condition(R"({"StringEquals": {"iot:ClientId": {"a": "b"}}})"));
  expectMalformed(with_condition(R"({"StringEquals": {"iot:ClientId": []}})"));
  expectMalformed(with_condition(R"({"StringEquals": {"iot:ClientId": ["a", ["b"]]}})"));
  expectMalformed(with_condition(R"({"StringEquals": {"": "a"}})"));
}

TEST(PolicyDocumentTest, RejectsMalformedDocuments) {
  expectMalformed("", "JSON");
  expectMalformed("{", "JSON");
  expectMalformed(R"({"Version": "2012-10-17", "Statement": [}])", "JSON");
  expectMalformed(R"([{"Effect": "Allow", "Action": "*", "Resource": "*"}])", "object");
  expectMalformed(R"("policy")", "object");
  expectMalformed(R"({"Version": "2012-10-17"})", "Statement");
  expectMalformed(R"({"Version": "2012-10-17", "Statement": []})", "Statement");
  expectMalformed(R"({"Version": "2012-10-17", "Statement": "x"})", "Statement");
  expectMalformed(R"({"Version": "2012-10-18", "Statement": {"Effect": "Allow", "Action": "*",
                      "Resource": "*"}})",
                  "Version");
  expectMalformed(R"({"Version": 2012, "Statement": {"Effect": "Allow", "Action": "*",
                      "Resource": "*"}})",
                  "Version");
  expectMalformed(R"({"version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*",
                      "Resource": "*"}})",
                  "version");
  // Duplicate keys would make the meaning depend on the parser: refused.
  expectMalformed(R"({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Effect": "Deny",
                      "Action": "*", "Resource": "*"}})",
                  "Effect");
  expectMalformed(R"({"Version": "2012-10-17", "Version": "2012-10-17", "Statement":
                      {"Effect": "Allow", "Action": "*", "Resource": "*"}})",
                  "Version");
  // Invalid UTF-8 inside a string.
  expectMalformed(
      "{\"Version\": \"2012-10-17\", \"Statement\": {\"Sid\": \"\xff\", "
      "\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}}");
  std::string with_nul = R"({"Statement": {"Effect": "Allow")";
  with_nul.push_back('\0');
  with_nul += R"(, "Action": "*", "Resource": "*"}})";
  expectMalformed(with_nul, "JSON");
}

TEST(PolicyDocumentTest, EnforcesCharacterLimitExcludingWhitespace) {
  // Grow the document with resources until it is just at / just over the quota.
  auto document_with = [](std::size_t resource_chars, std::size_t indent) {
    std::string resource = "arn:aws:iot:us-east-1:123456789012:topic/";
    std::string padding(indent, ' ');
    std::string doc = "{" + padding +
                      R"("Version": "2012-10-17", "Statement": {"Effect": "Allow",)" + padding +
                      R"("Action": "iot:Publish", "Resource": ")" + resource;
    doc += std::string(resource_chars, 'x') + "\"}}";
    return doc;
  };
  std::string base = document_with(0, 0);
  std::size_t base_count = countPolicyCharacters(base);
  ASSERT_LT(base_count, kMaxCharacters);
  std::size_t fill = kMaxCharacters - base_count;
  // Whitespace, however much, does not count.
  std::string at_limit = document_with(fill, 5000);
  EXPECT_EQ(countPolicyCharacters(at_limit), kMaxCharacters);
  parseOk(at_limit);
  expectMalformed(document_with(fill + 1, 0), "2048");
  // A multi-byte UTF-8 character counts once.
  EXPECT_EQ(countPolicyCharacters("\"\xc3\xbc \xe2\x82\xac\""), 4u);
}

TEST(PolicyDocumentTest, EnforcesRawSizeCap) {
  std::string huge = R"({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})";
  huge += std::string(kMaxRawSize, ' ');
  expectMalformed(huge, "bytes");
}

TEST(PolicyDocumentTest, RejectsDeepNesting) {
  // Within the character quota but far deeper than any policy.
  std::string deep =
      R"({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": )";
  deep += std::string(500, '[') + std::string(500, ']') + "}}";
  expectMalformed(deep, "nested");
  expectMalformed(std::string(1000, '[') + std::string(1000, ']'), "nested");
  expectMalformed(std::string(2000, '{'), "");
  // Brackets inside strings are not nesting.
  parseOk(withStatement(R"({"Sid": "[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{", "Effect": "Allow",
      "Action": "*", "Resource": "arn:aws:iot:us-east-1:1:topic/\"[[[[[[[[[[[[[[[[[[[\\"})"));
}

}  // namespace
}  // namespace fleetgate::policy
