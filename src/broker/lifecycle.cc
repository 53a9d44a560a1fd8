#include "broker/lifecycle.h"

#include <nlohmann/json.hpp>

namespace fleetgate::broker {
namespace {

using Json = nlohmann::ordered_json;

Json common(const LifecycleIdentity& who, std::int64_t timestamp_ms, std::string_view type) {
  Json j;
  j["clientId"] = who.client_id;
  if (who.thing_name) j["thingName"] = *who.thing_name;
  j["timestamp"] = timestamp_ms;
  j["eventType"] = type;
  j["sessionIdentifier"] = who.session_identifier;
  j["principalIdentifier"] = who.principal_identifier;
  return j;
}

std::string dump(const Json& j) {
  // Client ids are UTF-8 checked by the codec; `replace` keeps a bad byte from throwing anyway.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

bool emitsLifecycleEvents(std::string_view client_id) {
  return client_id.find_first_of("#+") == std::string_view::npos;
}

std::string connectedTopic(std::string_view c) {
  return "$aws/events/presence/connected/" + std::string(c);
}
std::string disconnectedTopic(std::string_view c) {
  return "$aws/events/presence/disconnected/" + std::string(c);
}
std::string connectFailedTopic(std::string_view c) {
  return "$aws/events/presence/connect_failed/" + std::string(c);
}
std::string subscribedTopic(std::string_view c) {
  return "$aws/events/subscriptions/subscribed/" + std::string(c);
}
std::string unsubscribedTopic(std::string_view c) {
  return "$aws/events/subscriptions/unsubscribed/" + std::string(c);
}

std::string connectedEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms) {
  Json j = common(who, timestamp_ms, "connected");
  j["ipAddress"] = who.ip_address;
  j["versionNumber"] = who.version_number;
  return dump(j);
}

std::string disconnectedEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms,
                              mqtt::DisconnectReason reason) {
  Json j = common(who, timestamp_ms, "disconnected");
  j["clientInitiatedDisconnect"] = reason == mqtt::DisconnectReason::kClientInitiated;
  j["disconnectReason"] = mqtt::disconnectReasonName(reason);
  j["versionNumber"] = who.version_number;
  return dump(j);
}

std::string connectFailedEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms,
                               std::string_view failure_reason) {
  Json j = common(who, timestamp_ms, "connect_failed");
  j["connectFailureReason"] = failure_reason;
  j["ipAddress"] = who.ip_address;
  return dump(j);
}

std::string subscriptionEvent(const LifecycleIdentity& who, std::int64_t timestamp_ms,
                              bool subscribed, const std::vector<std::string>& topics) {
  Json j = common(who, timestamp_ms, subscribed ? "subscribed" : "unsubscribed");
  j["topics"] = topics;
  return dump(j);
}

std::string certificateRegisteredTopic(std::string_view ca_certificate_id) {
  return "$aws/events/certificates/registered/" + std::string(ca_certificate_id);
}

std::string certificateRegisteredEvent(const CertificateRegistration& registration,
                                       std::int64_t timestamp_ms) {
  Json j;
  j["certificateId"] = registration.certificate_id;
  j["caCertificateId"] = registration.ca_certificate_id;
  j["timestamp"] = timestamp_ms;
  j["certificateStatus"] = "PENDING_ACTIVATION";
  j["awsAccountId"] = registration.account_id;
  // AWS documents this one as a quoted value (spec §5): epoch milliseconds as a string.
  j["certificateRegistrationTimestamp"] = std::to_string(registration.registered_at_ms);
  return dump(j);
}

}  // namespace fleetgate::broker
