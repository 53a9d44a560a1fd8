#include "broker/device_api.h"

#include <algorithm>

#include "mqtt/topic.h"

namespace fleetgate::broker {

std::optional<mqtt::Qos> replyQos(const mqtt::Session& session, std::string_view topic) {
  std::optional<mqtt::Qos> granted;
  for (const auto& [filter, options] : session.subscriptions) {
    if (!mqtt::topicMatches(filter, topic)) continue;
    granted = granted ? std::max(*granted, options.qos) : options.qos;
  }
  return granted;
}

}  // namespace fleetgate::broker
