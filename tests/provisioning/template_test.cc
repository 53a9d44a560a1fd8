#include "provisioning/template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace fleetgate::provisioning {
namespace {

using registry::CertificateStatus;
using registry::OverrideSetting;
using registry::PlannedCertificate;
using Params = std::map<std::string, std::string>;

Result<registry::ProvisioningPlan> run(const std::string& body, const Params& params = {},
                                       TemplateKind kind = TemplateKind::kRegisterThing) {
  return evaluateTemplate(body, params, kind);
}

// A template whose thing is named by `name_expr` (JSON), for testing one intrinsic at a time.
std::string thingNamed(const std::string& name_expr, const std::string& extra_sections = "") {
  return R"({)" + extra_sections +
         R"("Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":)" +
         name_expr + "}}}}";
}

std::string nameOf(const std::string& name_expr, const Params& params = {},
                   const std::string& extra_sections = "") {
  auto plan = run(thingNamed(name_expr, extra_sections), params);
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message());
  if (!plan.ok() || !plan->thing) return "<error>";
  return plan->thing->name;
}

ErrorKind kindOf(const Result<registry::ProvisioningPlan>& r) {
  EXPECT_FALSE(r.ok());
  return r.ok() ? ErrorKind::kInternalFailure : r.error().kind();
}

// The error message of a failed evaluation (empty when it succeeded).
std::string messageOf(const Result<registry::ProvisioningPlan>& r) {
  return r.ok() ? std::string() : r.error().message();
}

constexpr const char* kFullTemplate = R"({
  "Parameters": {
    "ThingName": {"Type": "String"},
    "Location": {"Type": "String", "Default": "WA"},
    "CSR": {"Type": "String"}
  },
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
      "Properties": {"ThingName": {"Ref": "ThingName"},
                     "AttributePayload": {"location": {"Ref": "Location"}, "version": 1},
                     "ThingTypeName": "sensor",
                     "ThingGroups": ["g1", "g2"]},
      "OverrideSettings": {"AttributePayload": "MERGE", "ThingTypeName": "DO_NOTHING",
                           "ThingGroups": "FAIL"}},
    "certificate": {"Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "Active"},
      "OverrideSettings": {"Status": "DO_NOTHING"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "existing"}}
  }
})";

TEST(TemplateTest, EvaluatesEveryResourceOfAFullTemplate) {
  auto plan = run(kFullTemplate, {{"ThingName", "dev-1"}, {"CSR", "csr-pem"}});
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  ASSERT_TRUE(plan->thing);
  EXPECT_EQ(plan->thing->logical_name, "thing");
  EXPECT_EQ(plan->thing->name, "dev-1");
  EXPECT_EQ(plan->thing->attributes, (registry::Attributes{{"location", "WA"}, {"version", "1"}}));
  EXPECT_EQ(plan->thing->type_name, "sensor");
  EXPECT_EQ(plan->thing->groups, (std::vector<std::string>{"g1", "g2"}));
  EXPECT_FALSE(plan->thing->billing_group);
  EXPECT_EQ(plan->thing->attributes_override, OverrideSetting::kMerge);
  EXPECT_EQ(plan->thing->type_override, OverrideSetting::kDoNothing);
  EXPECT_EQ(plan->thing->groups_override, OverrideSetting::kFail);
  ASSERT_TRUE(plan->certificate);
  EXPECT_EQ(plan->certificate->source, PlannedCertificate::Source::kCsr);
  EXPECT_EQ(plan->certificate->value, "csr-pem");
  EXPECT_EQ(plan->certificate->status, CertificateStatus::kActive);
  EXPECT_EQ(plan->certificate->status_override, OverrideSetting::kDoNothing);
  ASSERT_EQ(plan->policies.size(), 1u);
  EXPECT_EQ(plan->policies[0].name, "existing");
  EXPECT_FALSE(plan->policies[0].document);
}

TEST(TemplateTest, OverrideDefaultsAreReplaceExceptGroupsWhichMerge) {
  auto plan = run(thingNamed(R"("t")"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->thing->attributes_override, OverrideSetting::kReplace);
  EXPECT_EQ(plan->thing->type_override, OverrideSetting::kReplace);
  EXPECT_EQ(plan->thing->groups_override, OverrideSetting::kMerge);
  EXPECT_FALSE(plan->thing->attributes);  // not named by the template: left alone
  EXPECT_FALSE(plan->thing->groups);
}

TEST(TemplateTest, DefaultAppliesOnlyWhenTheParameterIsMissing) {
  const std::string params = R"("Parameters":{"P":{"Type":"String","Default":"dflt"}},)";
  EXPECT_EQ(nameOf(R"({"Ref":"P"})", {}, params), "dflt");
  EXPECT_EQ(nameOf(R"({"Ref":"P"})", {{"P", "given"}}, params), "given");
}

TEST(TemplateTest, MissingParameterWithoutDefaultFailsNamingIt) {
  auto plan =
      run(thingNamed(R"({"Ref":"Serial"})", R"("Parameters":{"Serial":{"Type":"String"}},)"));
  EXPECT_EQ(kindOf(plan), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(plan).find("Serial"), std::string::npos);
}

TEST(TemplateTest, RefToAnUndeclaredParameterFails) {
  auto plan = run(thingNamed(R"({"Ref":"Nope"})"), {{"Nope", "x"}});
  EXPECT_EQ(kindOf(plan), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(plan).find("Nope"), std::string::npos);
  // Built-in certificate parameters may be referenced without a declaration.
  EXPECT_EQ(nameOf(R"({"Ref":"AWS::IoT::Certificate::CommonName"})",
                   {{"AWS::IoT::Certificate::CommonName", "cn"}}),
            "cn");
}

TEST(TemplateTest, JoinConcatenatesWithTheDelimiter) {
  const std::string p = R"("Parameters":{"A":{"Type":"String"}},)";
  EXPECT_EQ(nameOf(R"({"Fn::Join":["-",["x",{"Ref":"A"},"z"]]})", {{"A", "y"}}, p), "x-y-z");
  EXPECT_EQ(nameOf(R"({"Fn::Join":["",["a","b"]]})"), "ab");
  EXPECT_EQ(kindOf(run(thingNamed(R"({"Fn::Join":["-","notalist"]})"))),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(thingNamed(R"({"Fn::Join":["-",["a",1]]})"))),
            ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, SelectTakesANumberOrANumericString) {
  EXPECT_EQ(nameOf(R"({"Fn::Select":[1,["a","b","c"]]})"), "b");
  EXPECT_EQ(nameOf(R"({"Fn::Select":["2",["a","b","c"]]})"), "c");
  const std::string p = R"("Parameters":{"I":{"Type":"String"}},)";
  EXPECT_EQ(nameOf(R"({"Fn::Select":[{"Ref":"I"},["a","b"]]})", {{"I", "0"}}, p), "a");
}

TEST(TemplateTest, SelectOutOfRangeNegativeOrNullFails) {
  for (const char* expr : {R"({"Fn::Select":[3,["a","b","c"]]})", R"({"Fn::Select":[-1,["a"]]})",
                           R"({"Fn::Select":["x",["a"]]})", R"({"Fn::Select":[1.5,["a","b"]]})",
                           R"({"Fn::Select":[0,[null]]})", R"({"Fn::Select":[0,"a"]})"}) {
    auto plan = run(thingNamed(expr));
    EXPECT_EQ(kindOf(plan), ErrorKind::kResourceRegistrationFailure) << expr;
    EXPECT_NE(messageOf(plan).find("Fn::Select"), std::string::npos) << expr;
  }
}

TEST(TemplateTest, SplitFeedsSelect) {
  const std::string p = R"("Parameters":{"Cn":{"Type":"String"}},)";
  EXPECT_EQ(nameOf(R"({"Fn::Select":[1,{"Fn::Split":[".",{"Ref":"Cn"}]}]})",
                   {{"Cn", "acme.dev42.eu"}}, p),
            "dev42");
  // A trailing delimiter gives an empty last element, like CloudFormation.
  auto groups = run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t","ThingGroups":{"Fn::Split":[",","a,b,"]}}}}})");
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(groups->thing->groups, (std::vector<std::string>{"a", "b", ""}));
  EXPECT_EQ(kindOf(run(thingNamed(R"({"Fn::Split":["","abc"]})"))),
            ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, FindInMapLooksUpLiteralMappings) {
  const std::string mappings =
      R"("Parameters":{"Region":{"Type":"String"}},"Mappings":{"Names":{"eu":{"prefix":"europe"}}},)";
  EXPECT_EQ(nameOf(R"({"Fn::FindInMap":["Names",{"Ref":"Region"},"prefix"]})", {{"Region", "eu"}},
                   mappings),
            "europe");
  for (const char* expr :
       {R"({"Fn::FindInMap":["Other","eu","prefix"]})",
        R"({"Fn::FindInMap":["Names","us","prefix"]})",
        R"({"Fn::FindInMap":["Names","eu","suffix"]})", R"({"Fn::FindInMap":["Names","eu"]})"}) {
    EXPECT_EQ(kindOf(run(thingNamed(expr, mappings), {{"Region", "eu"}})),
              ErrorKind::kResourceRegistrationFailure)
        << expr;
  }
}

TEST(TemplateTest, MappingsMayOnlyHoldLiterals) {
  auto plan = run(thingNamed(R"("t")", R"("Mappings":{"M":{"a":{"b":{"Ref":"X"}}}},)"));
  EXPECT_EQ(kindOf(plan), ErrorKind::kInvalidRequest);
}

TEST(TemplateTest, SubReplacesParametersAndItsOwnVariables) {
  const std::string p = R"("Parameters":{"Serial":{"Type":"String"}},)";
  EXPECT_EQ(nameOf(R"({"Fn::Sub":"dev-${Serial}"})", {{"Serial", "42"}}, p), "dev-42");
  EXPECT_EQ(nameOf(R"({"Fn::Sub":["${Prefix}_${Serial}",{"Prefix":{"Fn::Join":["",["a","b"]]}}]})",
                   {{"Serial", "7"}}, p),
            "ab_7");
  // ${!Literal} escapes, which policy variables need.
  EXPECT_EQ(nameOf(R"({"Fn::Sub":"x${!iot:ClientId}"})"), "x${iot:ClientId}");
  for (const char* expr : {R"({"Fn::Sub":"${Unknown}"})", R"({"Fn::Sub":"${Serial"})",
                           R"({"Fn::Sub":"${}"})", R"({"Fn::Sub":["a"]})", R"({"Fn::Sub":1})"}) {
    EXPECT_EQ(kindOf(run(thingNamed(expr, p), {{"Serial", "1"}})),
              ErrorKind::kResourceRegistrationFailure)
        << expr;
  }
}

TEST(TemplateTest, IntrinsicsNestButOnlyToABoundedDepth) {
  std::string expr = R"("leaf")";
  for (int i = 0; i < 10; ++i) expr = R"({"Fn::Join":["",[)" + expr + "]]}";
  EXPECT_EQ(nameOf(expr), "leaf");
  for (int i = 0; i < 30; ++i) expr = R"({"Fn::Join":["",[)" + expr + "]]}";
  auto plan = run(thingNamed(expr));
  EXPECT_EQ(kindOf(plan), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(plan).find("nesting"), std::string::npos);
}

TEST(TemplateTest, SubCannotExpandWithoutBound) {
  // Each level repeats the one below 16 times: 16^4 * 4096 bytes if nothing stopped it.
  std::string repeat;
  for (int i = 0; i < 16; ++i) repeat += "${v}";
  std::string expr = R"({"Ref":"Big"})";
  for (int i = 0; i < 4; ++i) expr = R"({"Fn::Sub":[")" + repeat + R"(",{"v":)" + expr + "}]}";
  auto plan = run(thingNamed(expr, R"("Parameters":{"Big":{"Type":"String"}},)"),
                  {{"Big", std::string(4096, 'x')}});
  EXPECT_EQ(kindOf(plan), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(plan).find("too long"), std::string::npos);
}

TEST(TemplateTest, UnsupportedOrMalformedIntrinsicsFail) {
  for (const char* expr : {R"({"Fn::If":["c","a","b"]})", R"({"Fn::GetAtt":["thing","Arn"]})",
                           R"({"Ref":"x","Other":1})", R"({"Ref":["x"]})"}) {
    EXPECT_EQ(kindOf(run(thingNamed(expr))), ErrorKind::kResourceRegistrationFailure) << expr;
  }
}

TEST(TemplateTest, CertificateNeedsExactlyOneIdentificationMethod) {
  auto two = run(R"({"Resources":{"cert":{"Type":"AWS::IoT::Certificate","Properties":{
      "CertificateId":"abc","CertificatePem":"pem"}}}})");
  EXPECT_EQ(kindOf(two), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(two).find("cert"), std::string::npos);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"cert":{"Type":"AWS::IoT::Certificate",
      "Properties":{"Status":"ACTIVE"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"cert":{"Type":"AWS::IoT::Certificate",
      "Properties":{"CertificateId":"abc","CACertificatePem":"ca"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  auto pem = run(R"({"Resources":{"cert":{"Type":"AWS::IoT::Certificate","Properties":{
      "CertificatePem":"pem","CACertificatePem":"ca","Status":"inactive"}}}})");
  ASSERT_TRUE(pem.ok()) << pem.error().message();
  EXPECT_EQ(pem->certificate->source, PlannedCertificate::Source::kPem);
  EXPECT_EQ(pem->certificate->ca_pem, "ca");
  EXPECT_EQ(pem->certificate->status, CertificateStatus::kInactive);
}

TEST(TemplateTest, CertificateStatusIsActiveOrInactiveInAnyCase) {
  auto plan = run(R"({"Resources":{"c":{"Type":"AWS::IoT::Certificate",
      "Properties":{"CertificateId":"abc"}}}})");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->certificate->status, CertificateStatus::kActive);
  EXPECT_EQ(plan->certificate->status_override, OverrideSetting::kReplace);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"c":{"Type":"AWS::IoT::Certificate",
      "Properties":{"CertificateId":"abc","Status":"REVOKED"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, OverrideSettingsAreCheckedPerProperty) {
  auto merge_type = run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t"},"OverrideSettings":{"ThingTypeName":"MERGE"}}}})");
  EXPECT_EQ(kindOf(merge_type), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(merge_type).find("ThingTypeName"), std::string::npos);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"c":{"Type":"AWS::IoT::Certificate","Properties":{
      "CertificateId":"a"},"OverrideSettings":{"Status":"MERGE"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t"},"OverrideSettings":{"AttributePayload":"KEEP"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t"},"OverrideSettings":{"Status":"REPLACE"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{
      "PolicyName":"p"},"OverrideSettings":{"PolicyName":"REPLACE"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  auto replace = run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t"},"OverrideSettings":{"ThingGroups":"REPLACE","AttributePayload":"DO_NOTHING"}}}})");
  ASSERT_TRUE(replace.ok());
  EXPECT_EQ(replace->thing->groups_override, OverrideSetting::kReplace);
  EXPECT_EQ(replace->thing->attributes_override, OverrideSetting::kDoNothing);
}

TEST(TemplateTest, PolicyDocumentAsStringOrObjectAndItsDefaultName) {
  const std::string doc =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";
  nlohmann::json as_string = doc;
  auto plan =
      run(R"({"Resources":{"a":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":)" +
          as_string.dump() + R"(}},"b":{"Type":"AWS::IoT::Policy","Properties":{
                  "PolicyName":"named","PolicyDocument":)" +
          doc + "}}}}");
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  ASSERT_EQ(plan->policies.size(), 2u);
  EXPECT_EQ(plan->policies[0].logical_name, "a");
  EXPECT_EQ(plan->policies[0].document, doc);
  EXPECT_EQ(plan->policies[0].name, policyNameForDocument(doc));
  EXPECT_EQ(plan->policies[0].name.size(), 64u);
  EXPECT_EQ(plan->policies[0].name.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(plan->policies[1].name, "named");
  // The object form is stored as compact JSON (keys sorted), so it parses back to the same.
  EXPECT_EQ(nlohmann::json::parse(*plan->policies[1].document), nlohmann::json::parse(doc));
  EXPECT_EQ(kindOf(run(R"({"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{
      "PolicyDocument":["x"]}}}})")),
            ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, DefaultPolicyNamesDifferForDifferentDocuments) {
  EXPECT_NE(policyNameForDocument("{\"a\":1}"), policyNameForDocument("{\"a\":2}"));
  EXPECT_EQ(policyNameForDocument(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(TemplateTest, AtMostOneThingAndOneCertificate) {
  auto things = run(R"({"Resources":{
      "a":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"a"}},
      "b":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"b"}}}})");
  EXPECT_EQ(kindOf(things), ErrorKind::kResourceRegistrationFailure);
  auto certs = run(R"({"Resources":{
      "a":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":"a"}},
      "b":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":"b"}}}})");
  EXPECT_EQ(kindOf(certs), ErrorKind::kResourceRegistrationFailure);
  auto policies = run(R"({"Resources":{
      "a":{"Type":"AWS::IoT::Policy","Properties":{"PolicyName":"a"}},
      "b":{"Type":"AWS::IoT::Policy","Properties":{"PolicyName":"b"}}}})");
  ASSERT_TRUE(policies.ok());
  EXPECT_EQ(policies->policies.size(), 2u);
}

TEST(TemplateTest, UnknownResourceTypesAndPropertiesFailNamingTheResource) {
  auto type = run(R"({"Resources":{"bucket":{"Type":"AWS::S3::Bucket","Properties":{}}}})");
  EXPECT_EQ(kindOf(type), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(type).find("bucket"), std::string::npos);
  auto property = run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t","Colour":"red"}}}})");
  EXPECT_EQ(kindOf(property), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(property).find("Colour"), std::string::npos);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{}}}})")),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(R"({"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{
      "ThingName":"t","AttributePayload":{"a":{"nested":"x"}}}}}})")),
            ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, ABodyThatIsNotATemplateIsAnInvalidRequest) {
  for (const std::string& body :
       {std::string(""), std::string("not json"), std::string("[]"), std::string("{}"),
        std::string(R"({"Resources":{}})"), std::string(R"({"Resources":[]})"),
        std::string(R"({"Outputs":{},"Resources":{"t":{"Type":"AWS::IoT::Thing"}}})"),
        std::string(R"({"Parameters":{"P":{"Type":"Number"}},"Resources":{"t":{}}})"),
        std::string(
            R"({"Parameters":{"P":{"Type":"String","Default":1}},"Resources":{"t":{}}})")}) {
    EXPECT_EQ(kindOf(run(body)), ErrorKind::kInvalidRequest) << body;
  }
  std::string big = thingNamed('"' + std::string(10240, 'a') + '"');
  EXPECT_EQ(kindOf(run(big)), ErrorKind::kInvalidRequest);
}

TEST(TemplateTest, DeviceConfigurationIsAFlatMapOfEvaluatedStrings) {
  auto plan = run(R"({"Parameters":{"Env":{"Type":"String","Default":"prod"}},
      "DeviceConfiguration":{"endpoint":{"Fn::Sub":"${Env}.example"},"retries":3,"debug":false},
      "Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"t"}}}})");
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->device_configuration,
            (std::map<std::string, std::string>{
                {"endpoint", "prod.example"}, {"retries", "3"}, {"debug", "false"}}));
  EXPECT_EQ(kindOf(run(R"({"DeviceConfiguration":{"x":{"y":"z"}},
      "Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"t"}}}})")),
            ErrorKind::kResourceRegistrationFailure);
}

constexpr const char* kJitpTemplate = R"({
  "Parameters": {
    "AWS::IoT::Certificate::CommonName": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
      "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}}
  }
})";

TEST(TemplateTest, JitpTemplatesUseCertificateValues) {
  auto plan =
      run(kJitpTemplate,
          {{"AWS::IoT::Certificate::CommonName", "dev"}, {"AWS::IoT::Certificate::Id", "abc"}},
          TemplateKind::kJitp);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->thing->name, "dev");
  EXPECT_EQ(plan->certificate->source, PlannedCertificate::Source::kId);
  EXPECT_EQ(plan->certificate->value, "abc");
}

TEST(TemplateTest, JitpParametersMustBeSuppliedEvenWithADefault) {
  auto missing = run(kJitpTemplate, {{"AWS::IoT::Certificate::Id", "abc"}}, TemplateKind::kJitp);
  EXPECT_EQ(kindOf(missing), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(missing).find("CommonName"), std::string::npos);
  const std::string with_default =
      R"({"Parameters":{"AWS::IoT::Certificate::Country":{"Type":"String","Default":"DE"}},
          "Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"t"}}}})";
  EXPECT_EQ(kindOf(run(with_default, {}, TemplateKind::kJitp)),
            ErrorKind::kResourceRegistrationFailure);
  // The same template outside JITP: the Default applies.
  EXPECT_TRUE(run(with_default, {}, TemplateKind::kRegisterThing).ok());
}

TEST(TemplateTest, JitpParametersAreOnlyTheBuiltInNames) {
  const std::string body =
      R"({"Parameters":{"ThingName":{"Type":"String"}},
          "Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Ref":"ThingName"}}}}})";
  auto plan = run(body, {{"ThingName", "x"}}, TemplateKind::kJitp);
  EXPECT_EQ(kindOf(plan), ErrorKind::kResourceRegistrationFailure);
  EXPECT_NE(messageOf(plan).find("ThingName"), std::string::npos);
  const std::string locality =
      R"({"Parameters":{"AWS::IoT::Certificate::Locality":{"Type":"String"}},
          "Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"t"}}}})";
  EXPECT_EQ(kindOf(run(locality, {{"AWS::IoT::Certificate::Locality", "x"}}, TemplateKind::kJitp)),
            ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, JitpAndFleetTemplatesIdentifyTheCertificateById) {
  const std::string csr = R"({"Resources":{"c":{"Type":"AWS::IoT::Certificate",
      "Properties":{"CertificateSigningRequest":"csr"}}}})";
  EXPECT_EQ(kindOf(run(csr, {}, TemplateKind::kJitp)), ErrorKind::kResourceRegistrationFailure);
  EXPECT_EQ(kindOf(run(csr, {}, TemplateKind::kFleetProvisioning)),
            ErrorKind::kResourceRegistrationFailure);
  EXPECT_TRUE(run(csr, {}, TemplateKind::kRegisterThing).ok());
  const std::string pem = R"({"Resources":{"c":{"Type":"AWS::IoT::Certificate",
      "Properties":{"CertificatePem":"pem"}}}})";
  EXPECT_EQ(kindOf(run(pem, {}, TemplateKind::kJitp)), ErrorKind::kResourceRegistrationFailure);
}

TEST(TemplateTest, InvalidUtf8InParametersDoesNotThrow) {
  const std::string body =
      R"({"Parameters":{"P":{"Type":"String"}},"Resources":{"p":{"Type":"AWS::IoT::Policy",
          "Properties":{"PolicyDocument":{"Statement":[{"Resource":{"Ref":"P"}}]}}}}})";
  auto plan = run(body, {{"P", std::string("\xff\xfe", 2)}});
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_FALSE(plan->policies.at(0).document->empty());
}

}  // namespace
}  // namespace fleetgate::provisioning
