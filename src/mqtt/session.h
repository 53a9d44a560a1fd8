#pragma once

// What a client's session holds across connections (MQTT §4.1): its subscriptions and the QoS 1
// messages not yet acknowledged. Owned by the broker; a Connection works on it while attached.

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/packet.h"

namespace fleetgate::mqtt {

// A message as routed between connections; shared, never copied per subscriber.
struct Message {
  std::string topic;
  std::string payload;
  Qos qos = Qos::kAtMostOnce;  // as published
  bool retain = false;         // as published
  // v5 properties forwarded to subscribers (payload format, expiry, content type, response
  // topic, correlation data, user properties); never a topic alias or subscription id.
  Properties properties;
};
using MessagePtr = std::shared_ptr<const Message>;

// One message on its way to one subscriber.
struct Delivery {
  MessagePtr message;
  Qos qos = Qos::kAtMostOnce;  // min(published, granted)
  bool retain = false;         // the RETAIN flag on the wire
};

struct InflightDelivery {
  std::uint16_t packet_id = 0;
  Delivery delivery;
};

struct Session {
  std::map<std::string, SubscribeOptions, std::less<>> subscriptions;
  // QoS 1 sent and not yet acknowledged, in send order (resent with DUP on resume).
  std::vector<InflightDelivery> inflight;
  // Waiting for a free in-flight slot or for the client to come back. A list, not a deque: it is
  // empty for most sessions, and an empty std::deque still allocates.
  std::list<Delivery> queued;
  std::uint16_t next_packet_id = 1;

  // Takes a packet id that no in-flight message uses.
  std::uint16_t allocatePacketId();
};

}  // namespace fleetgate::mqtt
