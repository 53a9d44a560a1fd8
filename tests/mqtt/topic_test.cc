#include "mqtt/topic.h"

#include <gtest/gtest.h>

#include <string>

namespace fleetgate::mqtt {
namespace {

TEST(MqttTopicTest, TopicNames) {
  EXPECT_TRUE(isValidTopicName("a"));
  EXPECT_TRUE(isValidTopicName("/"));
  EXPECT_TRUE(isValidTopicName("a//b"));
  EXPECT_TRUE(isValidTopicName("$aws/things/t/shadow/update"));
  EXPECT_TRUE(isValidTopicName("caf\xC3\xA9"));
  EXPECT_FALSE(isValidTopicName(""));
  EXPECT_FALSE(isValidTopicName("a/+"));
  EXPECT_FALSE(isValidTopicName("a/#"));
  EXPECT_FALSE(isValidTopicName("a+b"));
  EXPECT_FALSE(isValidTopicName("\xC0\x80"));
  EXPECT_FALSE(isValidTopicName(std::string("a\0b", 3)));
}

TEST(MqttTopicTest, AwsLimitsAreParameters) {
  EXPECT_TRUE(isValidTopicName(std::string(256, 'a')));
  EXPECT_FALSE(isValidTopicName(std::string(257, 'a')));
  EXPECT_TRUE(isValidTopicName("1/2/3/4/5/6/7/8"));     // 7 slashes
  EXPECT_FALSE(isValidTopicName("1/2/3/4/5/6/7/8/9"));  // 8
  // The Basic Ingest prefix does not count (spec §9.4).
  EXPECT_TRUE(isValidTopicName("$aws/rules/r/1/2/3/4/5/6/7/8"));
  EXPECT_FALSE(isValidTopicName("$aws/rules/r/1/2/3/4/5/6/7/8/9"));
  TopicLimits loose{1000, 100};
  EXPECT_TRUE(isValidTopicName(std::string(257, 'a'), loose));
  EXPECT_TRUE(isValidTopicName("1/2/3/4/5/6/7/8/9", loose));
  TopicLimits tight{4, 1};
  EXPECT_FALSE(isValidTopicName("a/b/c", tight));
  EXPECT_FALSE(isValidTopicFilter("a/b/#", tight));
}

TEST(MqttTopicTest, TopicFilters) {
  for (const char* ok : {"#", "+", "+/+", "a/+/c", "a/#", "/#", "+/", "$SYS/#", "a"}) {
    EXPECT_TRUE(isValidTopicFilter(ok)) << ok;
  }
  for (const char* bad : {"", "a#", "a/#/b", "a/b#", "#/", "a+", "a/+b", "++", "##"}) {
    EXPECT_FALSE(isValidTopicFilter(bad)) << bad;
  }
}

struct MatchCase {
  const char* filter;
  const char* topic;
  bool matches;
};

TEST(MqttTopicTest, MatchingTable) {
  const MatchCase cases[] = {
      {"a/b", "a/b", true},
      {"a/b", "a/c", false},
      {"a/b", "a/b/c", false},
      {"a/b/c", "a/b", false},
      {"a/+", "a/b", true},
      {"a/+", "a/", true},  // an empty level is a level
      {"a/+", "a", false},
      {"a/+", "a/b/c", false},
      {"+/+", "/a", true},
      {"+", "/a", false},
      {"/+", "/a", true},
      {"+/b/+", "a/b/c", true},
      {"#", "a/b/c", true},
      {"#", "/", true},
      {"a/#", "a/b/c", true},
      {"a/#", "a/", true},
      // MQTT 3.1.1 / 5.0 §4.7.1.2: "sport/tennis/player1/#" matches "sport/tennis/player1", so
      // the parent level matches. Spec §8.3 says AWS's "sensor/#" does not match "sensor";
      // that statement is about policy resources, and §9 does not change delivery, so the
      // topic tree follows the MQTT standard.
      {"sport/#", "sport", true},
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/#", "sports", false},
      {"a/+/#", "a/b", true},
      {"a/+/#", "a", false},
      // MQTT §4.7.2: wildcards at the first level do not match '$' topics.
      {"#", "$SYS/x", false},
      {"+/x", "$SYS/x", false},
      {"$SYS/#", "$SYS/x", true},
      {"$aws/things/+/shadow/update", "$aws/things/t/shadow/update", true},
      {"a/#", "a/$b", true},
      {"A/b", "a/b", false},  // case-sensitive
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(topicMatches(c.filter, c.topic), c.matches) << c.filter << " vs " << c.topic;
  }
}

}  // namespace
}  // namespace fleetgate::mqtt
