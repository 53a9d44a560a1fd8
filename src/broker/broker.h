#pragma once

// The MQTT broker: mutual-TLS listeners (8883, and the ALPN `x-amzn-mqtt-ca` port that AWS
// serves on 443), authentication of registered certificates, IoT policy enforcement, sessions,
// retained messages and lifecycle events. Asio and OpenSSL stay behind the pimpl.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "broker/device_api.h"
#include "common/random.h"
#include "mqtt/connection.h"
#include "mqtt/routed_message.h"
#include "provisioning/auto_registration.h"
#include "registry/certificate_index.h"
#include "registry/events.h"
#include "registry/registry.h"

namespace fleetgate::broker {

struct BrokerOptions {
  std::string bind_address = "127.0.0.1";
  int mqtt_port = 8883;  // 0: any free port; -1: no listener
  int alpn_port = 443;   // MQTT selected by ALPN `x-amzn-mqtt-ca`; 0: any free port; -1: none
  std::string certificate_chain_file;
  std::string private_key_file;
  int workers = 0;  // threads, one event loop each; 0: one per core
  std::string default_account_id;  // for clients that send no SNI, or a name outside `domain`
  bool require_server_name = false;  // refuse those clients instead, as AWS does
  std::string domain;              // device endpoints are <prefix>-ats.iot.<region>.<domain>
  mqtt::ConnectionLimits limits;
  std::chrono::seconds connect_timeout{10};  // TCP accept to CONNECT (slow handshakes included)
  std::uint32_t max_session_expiry = 3600;   // seconds a persistent session outlives its client
  // QoS 1 messages an offline persistent session keeps; the oldest are dropped beyond it.
  std::size_t max_offline_messages = 1000;
};

// Sees every routed message on the worker thread that routed it; must not block: it runs on the
// publish path.
using MessageObserver = std::function<void(const mqtt::RoutedMessage&)>;

struct BrokerDependencies {
  registry::Registry& registry;
  registry::CertificateIndex& certificates;
  registry::EventBus& events;
  const Clock& clock;                     // event timestamps, certificate dates
  const MonotonicClock& monotonic_clock;  // keep-alive, connect timeout, session expiry
  Random& random;
  MessageObserver observer = {};  // empty: none
  // Whether the observer wants lifecycle events, which are built only when someone wants them.
  std::function<bool()> observer_wants_events = {};
  // JITP/JITR for unknown certificates; null: they are refused.
  provisioning::AutoRegistrar* auto_registrar = nullptr;
  // Answers requests on reserved topics (device_api.h); null: those are routed like any topic.
  DeviceApi* device_api = nullptr;
};

class Broker {
 public:
  Broker(BrokerOptions options, BrokerDependencies dependencies);
  ~Broker();  // stops
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Loads the TLS material, binds the listeners and starts the worker threads. Once.
  Status start();
  // Disconnects every client (SERVER_INITIATED_DISCONNECT) and joins the threads. Idempotent.
  void stop();

  // Routes a message made outside any connection (a rule's republish) to the account's
  // subscribers and rules. Thread-safe; runs on a worker thread after it returns.
  void publish(std::string account_id, std::string topic, std::string payload, int qos,
               int rule_depth);

  std::uint16_t mqttPort() const;  // 0 when disabled
  std::uint16_t alpnPort() const;
  // Prometheus text exposition of the broker's counters.
  std::string metrics() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetgate::broker
