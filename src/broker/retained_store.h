#pragma once

// Retained messages, one per (account, topic) (spec §9.5). Touched only by retained publishes and
// by subscriptions to an exact topic, so one mutex does not sit on the ordinary publish path.
// Kept in memory: a restart forgets them (docs/broker.md).

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mqtt/session.h"

namespace fleetgate::broker {

class RetainedStore {
 public:
  // An empty payload deletes the topic's retained message.
  void put(std::string_view account_id, const mqtt::MessagePtr& message);
  mqtt::MessagePtr get(std::string_view account_id, std::string_view topic) const;

 private:
  static std::string key(std::string_view account_id, std::string_view topic);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, mqtt::MessagePtr> messages_;
};

}  // namespace fleetgate::broker
