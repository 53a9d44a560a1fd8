#include "registry/events.h"

namespace fleetgate::registry {

std::string_view resourceName(EventResource resource) {
  switch (resource) {
    case EventResource::kAccount: return "account";
    case EventResource::kThing: return "thing";
    case EventResource::kThingType: return "thingType";
    case EventResource::kThingGroup: return "thingGroup";
    case EventResource::kCertificate: return "certificate";
    case EventResource::kCaCertificate: return "caCertificate";
    case EventResource::kPolicy: return "policy";
    case EventResource::kPolicyAttachment: return "policyAttachment";
    case EventResource::kThingPrincipal: return "thingPrincipal";
    case EventResource::kProvisioningTemplate: return "provisioningTemplate";
    case EventResource::kTopicRule: return "topicRule";
  }
  return "unknown";
}

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
