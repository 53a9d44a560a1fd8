#include "registry/events.h"

namespace fleetgate::registry {

void EventBus::subscribe(Subscriber subscriber) {
  std::lock_guard lock(mutex_);
  subscribers_.push_back(std::move(subscriber));
}

void EventBus::publish(const std::vector<Event>& events) const {
  if (events.empty()) return;
  std::vector<Subscriber> subscribers;
  {
    std::lock_guard lock(mutex_);
    subscribers = subscribers_;
  }
  for (const Event& e : events)
    for (const auto& s : subscribers) s(e);
}

}  // namespace fleetgate::registry
