#pragma once

// The seam where services answer devices on reserved request/response topics (AWS's fleet
// provisioning `$aws/certificates/...` and `$aws/provisioning-templates/...`, later others). A
// device publishes a request; the service sees it with the caller's identity, off the event
// loop, and its replies go to the requesting session only — never to other subscribers — and
// only on topics that session subscribed to and may receive (its receive gate decides, as for
// any message). The request itself reaches no subscriber.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.h"
#include "mqtt/session.h"

namespace fleetgate::broker {

struct DeviceRequest {
  std::string account_id;
  std::string region;
  std::string client_id;
  std::string certificate_id;  // the caller's principal
  std::string topic;
  std::string payload;
};

struct DeviceReply {
  std::string topic;
  std::string payload;
};

class DeviceApi {
 public:
  virtual ~DeviceApi() = default;
  // Whether `topic` is a request this service answers. On the publish path: must be cheap and
  // must not block.
  virtual bool handles(std::string_view topic) const = 0;
  // Runs on a blocking pool, never on an event loop; may take its time (registry writes).
  virtual std::vector<DeviceReply> handle(const DeviceRequest& request) = 0;
};

// The QoS a reply on `topic` goes out with to the session that asked: the highest its matching
// subscriptions grant; none when it subscribed to no filter matching the topic (the reply is
// dropped, as AWS drops replies to a device that did not subscribe first).
std::optional<mqtt::Qos> replyQos(const mqtt::Session& session, std::string_view topic);

}  // namespace fleetgate::broker
