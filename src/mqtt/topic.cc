#include "mqtt/topic.h"

#include <algorithm>

#include "common/encoding.h"

namespace fleetgate::mqtt {
namespace {

constexpr std::string_view kBasicIngestPrefix = "$aws/rules/";

bool withinLimits(std::string_view text, const TopicLimits& limits) {
  if (text.empty() || text.size() > limits.max_bytes) return false;
  if (text.find('\0') != std::string_view::npos || !isValidUtf8(text)) return false;
  std::string_view counted = text;
  if (counted.starts_with(kBasicIngestPrefix)) {
    // `$aws/rules/<rule>/`: skip the rule name's level and the '/' after it.
    std::size_t end = counted.find('/', kBasicIngestPrefix.size());
    counted = end == std::string_view::npos ? std::string_view() : counted.substr(end + 1);
  }
  return static_cast<std::size_t>(std::count(counted.begin(), counted.end(), '/')) <=
         limits.max_slashes;
}

}  // namespace

bool isValidTopicName(std::string_view topic, const TopicLimits& limits) {
  return withinLimits(topic, limits) && topic.find_first_of("+#") == std::string_view::npos;
}

bool isValidTopicFilter(std::string_view filter, const TopicLimits& limits) {
  if (!withinLimits(filter, limits)) return false;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (c != '+' && c != '#') continue;
    const bool starts_level = i == 0 || filter[i - 1] == '/';
    const bool ends_level = i + 1 == filter.size() || filter[i + 1] == '/';
    if (!starts_level || !ends_level) return false;
    if (c == '#' && i + 1 != filter.size()) return false;
  }
  return true;
}

bool topicMatches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#')) {
    return false;
  }
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    const std::size_t f_end = std::min(filter.find('/', f), filter.size());
    const std::string_view level = filter.substr(f, f_end - f);
    if (level == "#") return true;
    const std::size_t t_end = std::min(topic.find('/', t), topic.size());
    if (level != "+" && level != topic.substr(t, t_end - t)) return false;
    const bool filter_last = f_end == filter.size();
    const bool topic_last = t_end == topic.size();
    if (filter_last && topic_last) return true;
    if (filter_last) return false;
    f = f_end + 1;
    t = t_end + 1;
    if (topic_last) {
      // Only "<...>/#" can still match: `sport/#` matches `sport`.
      return filter.substr(f) == "#";
    }
  }
}

}  // namespace fleetgate::mqtt
