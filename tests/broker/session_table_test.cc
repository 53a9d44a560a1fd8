#include "broker/session_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "policy/document.h"

namespace fleetgate::broker {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr std::string_view kAccount = "123456789012";

std::shared_ptr<const policy::CompiledPolicy> policyOf(std::string_view json) {
  auto document = policy::parseDocument(json);
  EXPECT_TRUE(document.ok());
  return std::make_shared<policy::CompiledPolicy>(policy::CompiledPolicy::compile(
      {*document}, policy::ConnectionContext{}, "us-east-1", kAccount));
}

std::shared_ptr<const Identity> identityOf(std::string certificate_id) {
  auto identity = std::make_shared<Identity>();
  identity->certificate_id = std::move(certificate_id);
  return identity;
}

mqtt::Delivery delivery(std::string topic) {
  auto m = std::make_shared<mqtt::Message>();
  m->topic = std::move(topic);
  m->qos = mqtt::Qos::kAtLeastOnce;
  return {m, mqtt::Qos::kAtLeastOnce, false};
}

// The session table decides with the time it is given: these tests move a fake monotonic clock
// instead of waiting.
class SessionTableTest : public ::testing::Test {
 protected:
  SessionTable::Opened connect(std::string client_id, std::string certificate_id,
                               bool clean_start = false, std::uint32_t expiry = 3600,
                               std::shared_ptr<const policy::CompiledPolicy> policy = nullptr) {
    return table_.open({std::string(kAccount), "us-east-1", std::move(client_id),
                        identityOf(std::move(certificate_id)), policy ? policy : allow_all_,
                        clean_start, expiry});
  }

  // The sessions a PUBLISH on `topic` reaches.
  std::vector<std::string> reached(std::string_view topic) {
    std::vector<std::string> out;
    router_.match(std::string(kAccount), topic,
                  [&](SessionRecord& s, const mqtt::SubscribeOptions&) {
                    out.push_back(s.client_id);
                  });
    return out;
  }

  FakeMonotonicClock clock_;
  std::atomic<std::int64_t> event_subscriptions_{0};
  Router router_{event_subscriptions_};
  SessionTable table_{router_, 3, 64, 5};
  std::shared_ptr<const policy::CompiledPolicy> allow_all_ = policyOf(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]})");
};

TEST_F(SessionTableTest, PersistentSessionOutlivesItsConnectionForItsExpiryExactly) {
  auto [s, present] = connect("dev", "cert-a", false, 60);
  EXPECT_FALSE(present);
  EXPECT_EQ(s->id % 64, 3u);
  router_.subscribe(*s, "a/#", {});
  table_.detach(*s, clock_.now());
  clock_.advance(seconds(60));
  EXPECT_EQ(table_.expire(clock_.now()), 0u);
  EXPECT_EQ(reached("a/b"), std::vector<std::string>{"dev"});  // offline, still subscribed
  clock_.advance(seconds(1));
  EXPECT_EQ(table_.expire(clock_.now()), 1u);
  EXPECT_EQ(table_.find(kAccount, "dev"), nullptr);
  EXPECT_TRUE(reached("a/b").empty());
}

TEST_F(SessionTableTest, SessionWithoutExpiryEndsWithItsConnection) {
  auto [s, present] = connect("dev", "cert-a", true, 0);
  router_.subscribe(*s, "$aws/events/presence/#", {});
  EXPECT_EQ(event_subscriptions_.load(), 1);
  table_.detach(*s, clock_.now());
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(event_subscriptions_.load(), 0);
}

TEST_F(SessionTableTest, ResumeBySameCertificateKeepsTheSessionAnotherGetsAFreshOne) {
  auto first = connect("dev", "cert-a");
  router_.subscribe(*first.session, "victim/#", {});
  table_.queueOffline(*first.session, delivery("victim/1"));
  table_.detach(*first.session, clock_.now());

  auto again = connect("dev", "cert-a");
  EXPECT_TRUE(again.present);
  EXPECT_EQ(again.session, first.session);
  EXPECT_EQ(again.session->state->queued.size(), 1u);
  table_.detach(*again.session, clock_.now());

  auto other = connect("dev", "cert-b");
  EXPECT_FALSE(other.present);
  EXPECT_TRUE(other.session->state->queued.empty());
  EXPECT_TRUE(other.session->state->subscriptions.empty());
  EXPECT_TRUE(reached("victim/1").empty());
  EXPECT_EQ(other.session->identity->certificate_id, "cert-b");
}

TEST_F(SessionTableTest, CleanStartDropsTheStoredSession) {
  auto first = connect("dev", "cert-a");
  router_.subscribe(*first.session, "t", {});
  table_.detach(*first.session, clock_.now());
  auto clean = connect("dev", "cert-a", true);
  EXPECT_FALSE(clean.present);
  EXPECT_TRUE(reached("t").empty());
}

TEST_F(SessionTableTest, ResumeDropsSubscriptionsThePolicyNoLongerAllows) {
  auto first = connect("dev", "cert-a");
  router_.subscribe(*first.session, "keep/#", {});
  router_.subscribe(*first.session, "drop/#", {});
  table_.detach(*first.session, clock_.now());
  auto narrowed = policyOf(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
      "Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/keep/*"}]})");
  auto again = connect("dev", "cert-a", false, 3600, narrowed);
  EXPECT_TRUE(again.present);
  EXPECT_EQ(again.session->state->subscriptions.size(), 1u);
  EXPECT_EQ(reached("keep/1"), std::vector<std::string>{"dev"});
  EXPECT_TRUE(reached("drop/1").empty());
}

TEST_F(SessionTableTest, OfflineQueueKeepsTheNewestMessages) {
  auto [s, present] = connect("dev", "cert-a");
  table_.detach(*s, clock_.now());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(table_.queueOffline(*s, delivery(std::to_string(i))));
  EXPECT_FALSE(table_.queueOffline(*s, delivery("5")));
  ASSERT_EQ(s->state->queued.size(), 5u);
  EXPECT_EQ(s->state->queued.front().message->topic, "1");
  EXPECT_EQ(s->state->queued.back().message->topic, "5");
  // A connected backlog larger than the offline cap is cut when the client leaves.
  auto again = connect("dev", "cert-a");
  for (int i = 0; i < 3; ++i) again.session->state->queued.push_back(delivery("late"));
  EXPECT_EQ(table_.detach(*again.session, clock_.now()), 3u);
  EXPECT_EQ(again.session->state->queued.size(), 5u);
}

TEST_F(SessionTableTest, VersionNumbersCountConnectsAndRestartAfterAnHourAway) {
  EXPECT_EQ(table_.nextVersion(kAccount, "dev", clock_.now()), 1);
  clock_.advance(seconds(10));
  EXPECT_EQ(table_.nextVersion(kAccount, "dev", clock_.now()), 2);
  EXPECT_EQ(table_.nextVersion(kAccount, "other", clock_.now()), 1);
  clock_.advance(hours(1));
  EXPECT_EQ(table_.nextVersion(kAccount, "dev", clock_.now()), 3);  // exactly an hour: kept
  clock_.advance(hours(1) + seconds(1));
  EXPECT_EQ(table_.nextVersion(kAccount, "dev", clock_.now()), 1);
}

TEST_F(SessionTableTest, RouterReachesEachSessionOnceAtItsHighestQos) {
  auto a = connect("a", "cert-a").session;
  auto b = connect("b", "cert-b").session;
  router_.subscribe(*a, "x/#", {mqtt::Qos::kAtMostOnce});
  router_.subscribe(*a, "x/+", {mqtt::Qos::kAtLeastOnce});
  router_.subscribe(*b, "x/y", {mqtt::Qos::kAtMostOnce});
  std::vector<std::pair<std::string, mqtt::Qos>> seen;
  router_.match(std::string(kAccount), "x/y", [&](SessionRecord& s, const mqtt::SubscribeOptions& o) {
    seen.emplace_back(s.client_id, o.qos);
  });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, mqtt::Qos>>{
                      {"a", mqtt::Qos::kAtLeastOnce}, {"b", mqtt::Qos::kAtMostOnce}}));
  EXPECT_TRUE(router_.unsubscribe(*a, "x/+"));
  EXPECT_FALSE(router_.unsubscribe(*a, "x/+"));
  // Another account's identical topic reaches nobody here.
  int other = 0;
  router_.match("210987654321", "x/y", [&](SessionRecord&, const mqtt::SubscribeOptions&) { ++other; });
  EXPECT_EQ(other, 0);
}

}  // namespace
}  // namespace fleetgate::broker
