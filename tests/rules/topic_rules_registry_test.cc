// The registry's topic-rule storage: validation before storing, CRUD, listing, events.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "registry/registry.h"
#include "testing/registry_fixture.h"

namespace fleetgate::registry {
namespace {

constexpr const char* kRepublish =
    R"([{"republish": {"roleArn": "arn:aws:iam::123456789012:role/r", "topic": "out/${topic(2)}"}}])";

class TopicRulesTest : public testing::RegistryFixture {
 protected:
  TopicRulePayload payload(const std::string& sql = "SELECT * FROM 'in/+'") {
    TopicRulePayload p;
    p.sql = sql;
    p.actions = kRepublish;
    return p;
  }
  template <typename T>
  ErrorKind kindOf(const Result<T>& r) {
    EXPECT_FALSE(r.ok());
    return r.ok() ? ErrorKind::kInternalFailure : r.error().kind();
  }
  std::size_t ruleCount() {
    auto all = registry_->allTopicRules(account_.id);
    EXPECT_TRUE(all.ok());
    return all.ok() ? all->size() : 0;
  }
};

TEST_F(TopicRulesTest, CreateGetReplaceDelete) {
  TopicRulePayload p = payload();
  p.description = "forward";
  p.error_action = R"({"http": {"url": "http://127.0.0.1:9/e"}})";
  ASSERT_TRUE(registry_->createTopicRule(account_, "rule_1", p).ok());
  auto rule = registry_->getTopicRule(account_, "rule_1");
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ(rule->sql, "SELECT * FROM 'in/+'");
  EXPECT_EQ(rule->topic_pattern, "in/+");
  EXPECT_EQ(rule->description, "forward");
  EXPECT_FALSE(rule->disabled);
  EXPECT_EQ(rule->aws_iot_sql_version, "2015-10-08");
  EXPECT_EQ(nlohmann::json::parse(rule->actions), nlohmann::json::parse(kRepublish));
  ASSERT_TRUE(rule->error_action);
  EXPECT_EQ(nlohmann::json::parse(*rule->error_action)["http"]["url"], "http://127.0.0.1:9/e");
  EXPECT_EQ(published_.back().resource, registry::EventResource::kTopicRule);
  EXPECT_EQ(published_.back().operation, Event::Operation::kCreated);
  EXPECT_EQ(published_.back().id, "rule_1");

  auto again = registry_->createTopicRule(account_, "rule_1", p);
  ASSERT_EQ(kindOf(again), ErrorKind::kResourceAlreadyExists);
  EXPECT_EQ(again.error().resourceArn(), "arn:aws:iot:us-east-1:123456789012:rule/rule_1");

  TopicRulePayload replaced = payload("SELECT a FROM 'other/#' WHERE a > 1");
  replaced.disabled = true;
  replaced.aws_iot_sql_version = "2016-03-23";
  ASSERT_TRUE(registry_->replaceTopicRule(account_, "rule_1", replaced).ok());
  rule = registry_->getTopicRule(account_, "rule_1");
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ(rule->topic_pattern, "other/#");
  EXPECT_TRUE(rule->disabled);
  EXPECT_FALSE(rule->description);
  EXPECT_FALSE(rule->error_action);
  EXPECT_EQ(rule->aws_iot_sql_version, "2016-03-23");
  EXPECT_EQ(published_.back().operation, Event::Operation::kUpdated);

  ASSERT_TRUE(registry_->setTopicRuleEnabled(account_, "rule_1", true).ok());
  EXPECT_FALSE(registry_->getTopicRule(account_, "rule_1")->disabled);
  ASSERT_TRUE(registry_->setTopicRuleEnabled(account_, "rule_1", false).ok());
  EXPECT_TRUE(registry_->getTopicRule(account_, "rule_1")->disabled);

  ASSERT_TRUE(registry_->deleteTopicRule(account_, "rule_1").ok());
  EXPECT_EQ(published_.back().operation, Event::Operation::kDeleted);
  EXPECT_EQ(ruleCount(), 0u);
}

TEST_F(TopicRulesTest, AMissingRuleIsUnauthorizedAsInAws) {
  EXPECT_EQ(kindOf(registry_->getTopicRule(account_, "nope")), ErrorKind::kUnauthorized);
  EXPECT_EQ(kindOf(registry_->replaceTopicRule(account_, "nope", payload())),
            ErrorKind::kUnauthorized);
  EXPECT_EQ(kindOf(registry_->deleteTopicRule(account_, "nope")), ErrorKind::kUnauthorized);
  EXPECT_EQ(kindOf(registry_->setTopicRuleEnabled(account_, "nope", true)),
            ErrorKind::kUnauthorized);
}

TEST_F(TopicRulesTest, InvalidPayloadsStoreNothing) {
  std::size_t events = published_.size();
  EXPECT_EQ(kindOf(registry_->createTopicRule(account_, "r", payload("SELECT * FORM 'x'"))),
            ErrorKind::kSqlParse);
  EXPECT_EQ(kindOf(registry_->createTopicRule(account_, "bad-name", payload())),
            ErrorKind::kInvalidRequest);
  EXPECT_EQ(kindOf(registry_->createTopicRule(account_, std::string(129, 'a'), payload())),
            ErrorKind::kInvalidRequest);
  TopicRulePayload lambda = payload();
  lambda.actions = R"([{"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}}])";
  auto refused = registry_->createTopicRule(account_, "r", lambda);
  ASSERT_EQ(kindOf(refused), ErrorKind::kInvalidRequest);
  EXPECT_NE(refused.error().message().find("lambda"), std::string::npos);
  TopicRulePayload bad_error_action = payload();
  bad_error_action.error_action = R"({"sns": {}})";
  EXPECT_EQ(kindOf(registry_->createTopicRule(account_, "r", bad_error_action)),
            ErrorKind::kInvalidRequest);
  TopicRulePayload bad_version = payload();
  bad_version.aws_iot_sql_version = "2099-01-01";
  EXPECT_EQ(kindOf(registry_->createTopicRule(account_, "r", bad_version)),
            ErrorKind::kInvalidRequest);
  EXPECT_EQ(ruleCount(), 0u);
  EXPECT_EQ(published_.size(), events);

  // A refused replace leaves the stored rule as it was.
  ASSERT_TRUE(registry_->createTopicRule(account_, "r", payload()).ok());
  EXPECT_EQ(kindOf(registry_->replaceTopicRule(account_, "r", payload("SELECT FROM"))),
            ErrorKind::kSqlParse);
  EXPECT_EQ(registry_->getTopicRule(account_, "r")->sql, "SELECT * FROM 'in/+'");
}

TEST_F(TopicRulesTest, ListsByNameWithFiltersAndPages) {
  ASSERT_TRUE(registry_->createTopicRule(account_, "c_rule", payload("SELECT * FROM 'a/+/c'")).ok());
  ASSERT_TRUE(registry_->createTopicRule(account_, "a_rule", payload("SELECT * FROM 'a/b/c'")).ok());
  TopicRulePayload disabled = payload("SELECT * FROM 'x/#'");
  disabled.disabled = true;
  ASSERT_TRUE(registry_->createTopicRule(account_, "b_rule", disabled).ok());

  auto names = [](const Page<TopicRule>& page) {
    std::vector<std::string> out;
    for (const auto& r : page.items) out.push_back(r.name);
    return out;
  };
  auto all = registry_->listTopicRules(account_, {}, PageRequest{std::nullopt, 10, true});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(names(*all), (std::vector<std::string>{"a_rule", "b_rule", "c_rule"}));
  EXPECT_FALSE(all->next);

  auto first = registry_->listTopicRules(account_, {}, PageRequest{std::nullopt, 2, true});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(names(*first), (std::vector<std::string>{"a_rule", "b_rule"}));
  ASSERT_TRUE(first->next);
  auto second = registry_->listTopicRules(account_, {}, PageRequest{first->next, 2, true});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(names(*second), (std::vector<std::string>{"c_rule"}));

  auto by_topic = registry_->listTopicRules(account_, {"a/b/c", std::nullopt}, {std::nullopt, 10});
  ASSERT_TRUE(by_topic.ok());
  EXPECT_EQ(names(*by_topic), (std::vector<std::string>{"a_rule", "c_rule"}));
  auto by_pattern = registry_->listTopicRules(account_, {"a/+/c", std::nullopt}, {std::nullopt, 10});
  EXPECT_EQ(names(*by_pattern), (std::vector<std::string>{"c_rule"}));
  auto only_disabled = registry_->listTopicRules(account_, {std::nullopt, true}, {std::nullopt, 10});
  EXPECT_EQ(names(*only_disabled), (std::vector<std::string>{"b_rule"}));
  auto enabled = registry_->listTopicRules(account_, {std::nullopt, false}, {std::nullopt, 10});
  EXPECT_EQ(names(*enabled), (std::vector<std::string>{"a_rule", "c_rule"}));

  EXPECT_EQ(kindOf(registry_->listTopicRules(account_, {}, {std::string("!!"), 10})),
            ErrorKind::kInvalidRequest);
}

TEST_F(TopicRulesTest, ResetAccountDeletesRules) {
  ASSERT_TRUE(registry_->createTopicRule(account_, "r", payload()).ok());
  ASSERT_TRUE(registry_->resetAccount(account_.id).ok());
  EXPECT_EQ(ruleCount(), 0u);
  // Rules are per account.
  auto other = createAccount("210987654321", "AKIATESTTESTTEST0002");
  ASSERT_TRUE(registry_->createTopicRule(other, "r", payload()).ok());
  EXPECT_EQ(ruleCount(), 0u);
  EXPECT_EQ(registry_->allTopicRules(other.id)->size(), 1u);
}

}  // namespace
}  // namespace fleetgate::registry
