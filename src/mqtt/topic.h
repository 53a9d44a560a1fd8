#pragma once

// Topic names (what PUBLISH carries) and topic filters (what SUBSCRIBE carries).

#include <cstddef>
#include <string_view>

namespace fleetgate::mqtt {

// AWS IoT limits (spec §9.4): at most 256 bytes and 7 '/' separators, where the Basic Ingest
// prefix `$aws/rules/<rule>/` does not count towards the separators.
struct TopicLimits {
  std::size_t max_bytes = 256;
  std::size_t max_slashes = 7;
};

// Non-empty, MQTT UTF-8 (no U+0000), no wildcard characters, within `limits`.
bool isValidTopicName(std::string_view topic, const TopicLimits& limits = {});
// Non-empty, MQTT UTF-8, `+` only as a whole level, `#` only as the whole last level, within
// `limits`.
bool isValidTopicFilter(std::string_view filter, const TopicLimits& limits = {});

// MQTT matching of a valid topic name against a valid filter (MQTT 3.1.1 §4.7, 5.0 §4.7):
// - a filter starting with `+` or `#` does not match a topic starting with `$`;
// - `sport/#` also matches `sport` (the parent level). Spec §8.3 says AWS's `sensor/#` does not
//   match `sensor`; that sentence is about policy documents, and §9 says nothing different for
//   delivery, so subscribers get the standard's behaviour.
bool topicMatches(std::string_view filter, std::string_view topic);

}  // namespace fleetgate::mqtt
