#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace fleetgate::registry {

// A change to the registry, published only after the transaction that made it committed.
struct Event {
  enum class Operation { kCreated, kUpdated, kDeleted };
  Operation operation;
  std::string resource;  // "thing", "thingType", "thingGroup", "certificate", "caCertificate",
                         // "policy", "policyAttachment", "thingPrincipal", "provisioningTemplate",
                         // "account"
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
