#include "broker/retained_store.h"

namespace fleetgate::broker {

std::string RetainedStore::key(std::string_view account_id, std::string_view topic) {
  std::string k;
  k.reserve(account_id.size() + 1 + topic.size());
  k.append(account_id).push_back('\n');
  k.append(topic);
  return k;
}

void RetainedStore::put(std::string_view account_id, const mqtt::MessagePtr& message) {
  std::string k = key(account_id, message->topic);
  std::lock_guard lock(mutex_);
  if (message->payload.empty()) {
    messages_.erase(k);
  } else {
    messages_[std::move(k)] = message;
  }
}

mqtt::MessagePtr RetainedStore::get(std::string_view account_id, std::string_view topic) const {
  const std::string k = key(account_id, topic);
  std::lock_guard lock(mutex_);
  auto it = messages_.find(k);
  return it == messages_.end() ? nullptr : it->second;
}

}  // namespace fleetgate::broker
