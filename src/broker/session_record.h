#pragma once

// What the broker keeps of one client's session across its connections.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "mqtt/packet.h"
#include "mqtt/session.h"
#include "mqtt/topic_tree.h"
#include "policy/evaluator.h"

namespace fleetgate::broker {

// Who a connection is: fixed by the TLS handshake and CONNECT, kept by its session so that live
// enforcement can re-authorize clients that are offline too.
struct Identity {
  std::string certificate_id;
  std::string server_name;
  policy::ConnectionContext context;
  std::optional<mqtt::Will> will;
};

struct Client;  // a worker's connection; opaque outside the worker

struct SessionRecord {
  std::string account_id;
  std::string region;
  std::string client_id;
  mqtt::SubscriberId id = 0;
  std::shared_ptr<mqtt::Session> state;
  Client* client = nullptr;  // the attached connection; null while offline
  std::shared_ptr<const Identity> identity;
  std::shared_ptr<const policy::CompiledPolicy> policy;  // in force now; null: receives nothing
  std::uint32_t expiry_seconds = 0;
  SteadyTime offline_since{};
};

}  // namespace fleetgate::broker
