#pragma once

// Lifecycle event payloads and topics (spec §9.6), published by the broker itself.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/connection.h"

namespace fleetgate::broker {

struct LifecycleIdentity {
  std::string client_id;
  std::optional<std::string> thing_name;  // only with an exclusive thing association
  std::string session_identifier;
  std::string principal_identifier;  // the certificate id
  std::string ip_address;
  std::int64_t version_number = 0;
};

// AWS sends no lifecycle events for client ids containing `#` or `+`.
bool emitsLifecycleEvents(std::string_view client_id);

std::string connectedTopic(std::string_view client_id);
std::string disconnectedTopic(std::string_view client_id);
std::string connectFailedTopic(std::string_view client_id);
std::string subscribedTopic(std::string_view client_id);
std::string unsubscribedTopic(std::string_view client_id);

std::string connectedEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms);
std::string disconnectedEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms,
                              mqtt::DisconnectReason reason);
std::string connectFailedEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms,
                               std::string_view failure_reason);
std::string subscriptionEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms,
                              bool subscribed, const std::vector<std::string>& topics);

// JITR (spec §5): a certificate registered PENDING_ACTIVATION, announced again at every connect
// attempt while it stays so.
struct CertificateRegistration {
  std::string certificate_id;
  std::string ca_certificate_id;
  std::string account_id;
  std::int64_t registered_at_ms = 0;
};
std::string certificateRegisteredTopic(std::string_view ca_certificate_id);
std::string certificateRegisteredEvent(const CertificateRegistration& registration,
                                       std::int64_t timestamp_ms);

}  // namespace fleetgate::broker
