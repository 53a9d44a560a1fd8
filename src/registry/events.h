#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fleetgate::registry {

// What an event is about.
enum class EventResource : std::uint8_t {
  kAccount,
  kThing,
  kThingType,
  kThingGroup,
  kCertificate,
  kCaCertificate,
  kPolicy,
  kPolicyAttachment,  // id "<target ARN>|<policy name>"
  kThingPrincipal,    // id "<principal ARN>|<thing name>"
  kProvisioningTemplate,
  kTopicRule,
};
// "account", "thing", "thingType", ...: the name in logs and in the `resource` metric label.
std::string_view resourceName(EventResource resource);

// A change to the registry, published only after the transaction that made it committed.
struct Event {
  enum class Operation { kCreated, kUpdated, kDeleted };
  Operation operation;
  EventResource resource;
  std::string account_id;
  std::string id;        // name or certificate id; for attachments "<target>|<policy or thing>"
};

// Fan-out of registry events to in-process subscribers (the certificate index, later the
// broker's live enforcement). Subscribers run synchronously on the committing thread and
// must be quick.
class EventBus {
 public:
  using Subscriber = std::function<void(const Event&)>;
  void subscribe(Subscriber subscriber);
  void publish(const std::vector<Event>& events) const;

 private:
  mutable std::mutex mutex_;
  std::vector<Subscriber> subscribers_;
};

}  // namespace fleetgate::registry
