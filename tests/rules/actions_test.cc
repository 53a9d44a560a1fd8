#include "rules/actions.h"

#include <gtest/gtest.h>

namespace fleetgate::rules {
namespace {

using nlohmann::json;

std::string refusal(const std::string& action_json) {
  auto a = parseAction(json::parse(action_json), "actions[0]");
  EXPECT_FALSE(a.ok()) << action_json;
  if (a.ok()) return "";
  EXPECT_EQ(a.error().kind(), ErrorKind::kInvalidRequest);
  return a.error().message();
}

TEST(RuleActions, ParsesRepublishAndHttp) {
  auto r = parseAction(json::parse(R"({"republish": {"roleArn": "arn:aws:iam::1:role/r",
                                        "topic": "out/${topic(2)}", "qos": 1}})"),
                       "a");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(std::holds_alternative<RepublishAction>(*r));
  EXPECT_EQ(std::get<RepublishAction>(*r).qos, 1);
  EXPECT_EQ(actionTypeName(*r), "RepublishAction");

  auto h = parseAction(json::parse(R"({"http": {"url": "http://127.0.0.1:8080/hook",
                                        "headers": [{"key": "x-device", "value": "${clientid()}"}]}})"),
                       "a");
  ASSERT_TRUE(h.ok()) << h.error().message();
  ASSERT_TRUE(std::holds_alternative<HttpAction>(*h));
  EXPECT_EQ(std::get<HttpAction>(*h).headers.size(), 1u);
  EXPECT_EQ(actionTypeName(*h), "HttpAction");
}

TEST(RuleActions, RefusesWhatFleetgateDoesNotRun) {
  EXPECT_EQ(refusal(R"({"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}})"),
            "actions[0]: the action type lambda is not supported by fleetgate (supported: "
            "republish, http).");
  EXPECT_NE(refusal(R"({"s3": {}})").find("s3 is not supported"), std::string::npos);
  EXPECT_NE(refusal(R"({"http": {"url": "https://example.com/x"}})").find("https://"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"http": {"url": "http://h/x", "auth": {"sigv4": {}}}})")
                .find("actions[0].http.auth is not supported"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"roleArn": "r", "topic": "t", "headers": {}}})")
                .find("republish.headers is not supported"),
            std::string::npos);
}

TEST(RuleActions, RefusesMalformedActions) {
  EXPECT_NE(refusal(R"({})").find("exactly one action type"), std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"topic": "t"}, "http": {"url": "http://h/"}})")
                .find("exactly one action type"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"topic": "t"}})").find("roleArn is required"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"roleArn": "r", "topic": "t", "qos": 2}})").find("qos"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"roleArn": "r", "topic": "a/#"}})").find("not a valid topic"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"roleArn": "r", "topic": "a/${topic(}"}})")
                .find("substitution template ${topic(} is invalid"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"republish": {"roleArn": "r", "topic": "a/${x"}})").find("unterminated"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"http": {"url": "ftp://h/x"}})").find("http:// URL"), std::string::npos);
  EXPECT_NE(refusal(R"({"http": {"url": "http://user@h/x"}})").find("not a valid URL"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"http": {"url": "http://h/", "headers": [{"key": "Host", "value": "x"}]}})")
                .find("set by fleetgate"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"http": {"url": "http://h/", "bogus": 1}})").find("unknown member bogus"),
            std::string::npos);
}

TEST(RuleActions, AtMostTenActions) {
  json one = json::parse(R"({"republish": {"roleArn": "r", "topic": "t"}})");
  json ten = json::array();
  for (int i = 0; i < 10; ++i) ten.push_back(one);
  EXPECT_TRUE(parseActions(ten).ok());
  ten.push_back(one);
  auto eleven = parseActions(ten);
  ASSERT_FALSE(eleven.ok());
  EXPECT_EQ(eleven.error().message(), "A rule has at most 10 actions.");
  auto not_list = parseActions(json::object());
  EXPECT_FALSE(not_list.ok());
  // The index of the failing action is named.
  auto second = parseActions(json::parse(R"([{"republish": {"roleArn": "r", "topic": "t"}},
                                             {"sqs": {}}])"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message().rfind("actions[1]", 0), 0u);
}

TEST(RuleActions, TemplatesRenderAgainstTheMessage) {
  json payload = json::parse(R"({"id": "dev-1", "n": 3, "o": {"k": "v"}})");
  MessageContext context{"a/b/c", "client-9", "", 1234, &payload};
  auto t = Template::parse("x/${topic(2)}/${clientid()}/${id}/${n}/${o.k}/${missing}/${timestamp()}",
                           "f");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->render(context), "x/b/client-9/dev-1/3/v//1234");
  auto plain = Template::parse("no templates $ { }", "f");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->render(context), "no templates $ { }");
}

TEST(RuleActions, ParsesHttpUrls) {
  auto u = parseHttpUrl("http://127.0.0.1:8080/a/b?c=d#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/a/b?c=d");
  u = parseHttpUrl("HTTP://example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  u = parseHttpUrl("http://[::1]:9/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9");
  EXPECT_FALSE(parseHttpUrl("http://"));
  EXPECT_FALSE(parseHttpUrl("http://h:0/"));
  EXPECT_FALSE(parseHttpUrl("http://h:70000/"));
  EXPECT_FALSE(parseHttpUrl("http://h:/"));
  EXPECT_FALSE(parseHttpUrl("http://a b/"));
  EXPECT_FALSE(parseHttpUrl("http://h/a b"));
  EXPECT_FALSE(parseHttpUrl("https://h/"));
}

}  // namespace
}  // namespace fleetgate::rules
