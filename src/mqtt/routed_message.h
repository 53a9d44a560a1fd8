#pragma once

// A message the broker routed (a client's PUBLISH, including Basic Ingest, a will, or an event
// the broker made), as the broker offers it to observers such as the topic-rule engine. Views
// into the broker's message: valid only during the call.

#include <string_view>

namespace fleetgate::mqtt {

struct RoutedMessage {
  std::string_view account_id;
  std::string_view topic;
  std::string_view payload;
  std::string_view client_id;  // empty for broker-made events
  std::string_view principal;  // certificate id of the publisher; empty for events
  int qos = 0;
  int rule_depth = 0;  // republish hops that produced it
};

}  // namespace fleetgate::mqtt
