#include "mqtt/topic_tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mqtt/topic.h"

namespace fleetgate::mqtt {
namespace {

std::vector<SubscriberId> collectIds(const TopicTree& tree, std::string_view topic) {
  std::vector<SubscriberId> ids;
  tree.collect(topic, [&](const TreeEntry& e) { ids.push_back(e.subscriber); });
  std::sort(ids.begin(), ids.end());
  return ids;
}

using Ids = std::vector<SubscriberId>;

TEST(MqttTopicTreeTest, CollectsMatchingSubscriptions) {
  TopicTree tree;
  EXPECT_TRUE(tree.add("a/b", 1, {}));
  EXPECT_TRUE(tree.add("a/+", 2, {}));
  EXPECT_TRUE(tree.add("a/#", 3, {}));
  EXPECT_TRUE(tree.add("#", 4, {}));
  EXPECT_TRUE(tree.add("+/b", 5, {}));
  EXPECT_TRUE(tree.add("$aws/things/+/shadow/#", 6, {}));
  EXPECT_EQ(tree.size(), 6u);
  EXPECT_EQ(collectIds(tree, "a/b"), (Ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(collectIds(tree, "a"), (Ids{3, 4}));  // `a/#` matches `a`
  EXPECT_EQ(collectIds(tree, "a/c"), (Ids{2, 3, 4}));
  EXPECT_EQ(collectIds(tree, "a/b/c"), (Ids{3, 4}));
  EXPECT_EQ(collectIds(tree, "x/b"), (Ids{4, 5}));
  EXPECT_EQ(collectIds(tree, "$aws/things/t/shadow/update"), (Ids{6}));
  EXPECT_EQ(collectIds(tree, "$aws/things/t/shadow"), (Ids{6}));
  EXPECT_EQ(collectIds(tree, "$SYS/b"), Ids{});
}

TEST(MqttTopicTreeTest, ResubscribeReplacesOptions) {
  TopicTree tree;
  SubscribeOptions qos1{Qos::kAtLeastOnce};
  EXPECT_TRUE(tree.add("a", 1, {}));
  EXPECT_FALSE(tree.add("a", 1, qos1));
  EXPECT_EQ(tree.size(), 1u);
  std::vector<TreeEntry> seen;
  tree.collect("a", [&](const TreeEntry& e) { seen.push_back(e); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].options, qos1);
}

TEST(MqttTopicTreeTest, RemoveAndPrune) {
  TopicTree tree;
  tree.add("a/b/c", 1, {});
  tree.add("a/b/c", 2, {});
  tree.add("a/+/c", 1, {});
  tree.add("a/#", 1, {});
  EXPECT_FALSE(tree.remove("a/b/c", 3));
  EXPECT_FALSE(tree.remove("a/b", 1));
  EXPECT_FALSE(tree.remove("x/y", 1));
  EXPECT_TRUE(tree.remove("a/b/c", 1));
  EXPECT_FALSE(tree.remove("a/b/c", 1));
  EXPECT_EQ(collectIds(tree, "a/b/c"), (Ids{1, 1, 2}));
  EXPECT_TRUE(tree.remove("a/+/c", 1));
  EXPECT_TRUE(tree.remove("a/#", 1));
  EXPECT_TRUE(tree.remove("a/b/c", 2));
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(collectIds(tree, "a/b/c"), Ids{});
  // Re-adding after pruning works.
  EXPECT_TRUE(tree.add("a/b/c", 2, {}));
  EXPECT_EQ(collectIds(tree, "a/b/c"), Ids{2});
}

TEST(MqttTopicTreeTest, AgreesWithTopicMatches) {
  const char* filters[] = {"#",  "+",     "+/+",   "a/#", "a/+",  "a/b",    "a/+/c",
                           "/#", "+/b/#", "a/b/#", "/+",  "$x/#", "$x/+/c", "a//c"};
  const char* topics[] = {"a",    "a/b",    "a/b/c", "/a",    "/",      "a/",
                          "a//c", "$x/b/c", "$x",    "b/b/b", "a/b/c/d"};
  TopicTree tree;
  SubscriberId id = 0;
  for (const char* filter : filters) tree.add(filter, id++, {});
  for (const char* topic : topics) {
    Ids expected;
    for (SubscriberId i = 0; i < id; ++i) {
      if (topicMatches(filters[i], topic)) expected.push_back(i);
    }
    EXPECT_EQ(collectIds(tree, topic), expected) << topic;
  }
}

}  // namespace
}  // namespace fleetgate::mqtt
