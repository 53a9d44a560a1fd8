// Input: "<filter>\n<topic>" (a missing newline makes both the same string). Checks the
// validators, topicMatches and the TopicTree against each other.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mqtt/topic.h"
#include "mqtt/topic_tree.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace mqtt = fleetgate::mqtt;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  std::string_view filter = input.substr(0, newline);
  std::string_view topic = newline == std::string_view::npos ? input : input.substr(newline + 1);

  const bool valid_name = mqtt::isValidTopicName(topic);
  const bool valid_filter = mqtt::isValidTopicFilter(filter);
  // Every valid name is a valid filter, and matches itself.
  if (valid_name && !mqtt::isValidTopicFilter(topic)) __builtin_trap();
  if (valid_name && !mqtt::topicMatches(topic, topic)) __builtin_trap();
  if (!valid_name || !valid_filter) return 0;

  const bool matches = mqtt::topicMatches(filter, topic);
  mqtt::TopicTree tree;
  tree.add(filter, 1, {});
  tree.add(topic, 2, {});
  tree.add("#", 3, {});
  int seen_filter = 0;
  int seen_exact = 0;
  int seen_all = 0;
  tree.collect(topic, [&](const mqtt::TreeEntry& e) {
    if (e.subscriber == 1) ++seen_filter;
    if (e.subscriber == 2) ++seen_exact;
    if (e.subscriber == 3) ++seen_all;
  });
  if (seen_filter != (matches ? 1 : 0)) __builtin_trap();
  if (seen_exact != 1) __builtin_trap();
  if (seen_all != (topic[0] == '$' ? 0 : 1)) __builtin_trap();
  if (!tree.remove(filter, 1) || !tree.remove(topic, 2) || !tree.remove("#", 3)) __builtin_trap();
  if (tree.size() != 0) __builtin_trap();
  int left = 0;
  tree.collect(topic, [&](const mqtt::TreeEntry&) { ++left; });
  if (left != 0) __builtin_trap();
  return 0;
}
