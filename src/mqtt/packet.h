#pragma once

// The MQTT 3.1.1 / 5.0 packet model shared by the codec and the broker. Packets own their
// strings and payloads: a decoded packet outlives the decoder's buffer, which is compacted and
// reused, so views into it would dangle as soon as the next bytes arrive.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace fleetgate::mqtt {

enum class ProtocolVersion : std::uint8_t { kV311 = 4, kV5 = 5 };

enum class PacketType : std::uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

// MQTT 5 reason codes (§2.4). MQTT 3.1.1 CONNACK return codes and SUBACK codes are translated
// by the codec, so the rest of the broker speaks only these.
enum class ReasonCode : std::uint8_t {
  kSuccess = 0x00,  // also Normal disconnection, Granted QoS 0
  kGrantedQos1 = 0x01,
  kGrantedQos2 = 0x02,
  kDisconnectWithWill = 0x04,
  kNoMatchingSubscribers = 0x10,
  kNoSubscriptionExisted = 0x11,
  kContinueAuthentication = 0x18,
  kReauthenticate = 0x19,
  kUnspecifiedError = 0x80,
  kMalformedPacket = 0x81,
  kProtocolError = 0x82,
  kImplementationSpecificError = 0x83,
  kUnsupportedProtocolVersion = 0x84,
  kClientIdentifierNotValid = 0x85,
  kBadUserNameOrPassword = 0x86,
  kNotAuthorized = 0x87,
  kServerUnavailable = 0x88,
  kServerBusy = 0x89,
  kBanned = 0x8A,
  kServerShuttingDown = 0x8B,
  kBadAuthenticationMethod = 0x8C,
  kKeepAliveTimeout = 0x8D,
  kSessionTakenOver = 0x8E,
  kTopicFilterInvalid = 0x8F,
  kTopicNameInvalid = 0x90,
  kPacketIdentifierInUse = 0x91,
  kPacketIdentifierNotFound = 0x92,
  kReceiveMaximumExceeded = 0x93,
  kTopicAliasInvalid = 0x94,
  kPacketTooLarge = 0x95,
  kMessageRateTooHigh = 0x96,
  kQuotaExceeded = 0x97,
  kAdministrativeAction = 0x98,
  kPayloadFormatInvalid = 0x99,
  kRetainNotSupported = 0x9A,
  kQosNotSupported = 0x9B,
  kUseAnotherServer = 0x9C,
  kServerMoved = 0x9D,
  kSharedSubscriptionsNotSupported = 0x9E,
  kConnectionRateExceeded = 0x9F,
  kMaximumConnectTime = 0xA0,
  kSubscriptionIdentifiersNotSupported = 0xA1,
  kWildcardSubscriptionsNotSupported = 0xA2,
};

enum class PropertyId : std::uint8_t {
  kPayloadFormatIndicator = 0x01,
  kMessageExpiryInterval = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionIdentifier = 0x0B,
  kSessionExpiryInterval = 0x11,
  kAssignedClientIdentifier = 0x12,
  kServerKeepAlive = 0x13,
  kAuthenticationMethod = 0x15,
  kAuthenticationData = 0x16,
  kRequestProblemInformation = 0x17,
  kWillDelayInterval = 0x18,
  kRequestResponseInformation = 0x19,
  kResponseInformation = 0x1A,
  kServerReference = 0x1C,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kTopicAliasMaximum = 0x22,
  kTopicAlias = 0x23,
  kMaximumQos = 0x24,
  kRetainAvailable = 0x25,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
  kWildcardSubscriptionAvailable = 0x28,
  kSubscriptionIdentifierAvailable = 0x29,
  kSharedSubscriptionAvailable = 0x2A,
};

// One MQTT 5 property. Which fields are used depends on the identifier's wire type: integers
// (byte, two-byte, four-byte, variable byte) use `integer`; strings and binary data use `value`;
// a user property uses `name` and `value`. Kept generic and in wire order so that the codec is
// table-driven and a decoded list re-encodes to the same bytes.
struct Property {
  PropertyId id{};
  std::uint32_t integer = 0;
  std::string name;
  std::string value;

  bool operator==(const Property&) const = default;
};
using Properties = std::vector<Property>;

// First property with this identifier, or nullptr.
const Property* findProperty(const Properties& properties, PropertyId id);

enum class Qos : std::uint8_t { kAtMostOnce = 0, kAtLeastOnce = 1, kExactlyOnce = 2 };

struct Will {
  std::string topic;
  std::string payload;
  Qos qos = Qos::kAtMostOnce;
  bool retain = false;
  Properties properties;  // v5 only

  bool operator==(const Will&) const = default;
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::kV311;
  bool clean_start = true;  // "clean session" in 3.1.1
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data
  Properties properties;

  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  // In 3.1.1 only 0x00 and the codes that map to return codes 1-5 are encodable.
  ReasonCode reason = ReasonCode::kSuccess;
  Properties properties;

  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;  // may be empty in v5 when a topic alias property is present
  std::string payload;
  Qos qos = Qos::kAtMostOnce;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // 0 exactly when qos is 0
  Properties properties;

  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout; `type` says which one it is.
struct PublishResponse {
  PacketType type = PacketType::kPuback;
  std::uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::kSuccess;  // v5 only
  Properties properties;                     // v5 only

  bool operator==(const PublishResponse&) const = default;
};

enum class RetainHandling : std::uint8_t { kSendOnSubscribe = 0, kSendIfNew = 1, kDoNotSend = 2 };

struct SubscribeOptions {
  Qos qos = Qos::kAtMostOnce;
  bool no_local = false;                                              // v5 only
  bool retain_as_published = false;                                   // v5 only
  RetainHandling retain_handling = RetainHandling::kSendOnSubscribe;  // v5 only

  bool operator==(const SubscribeOptions&) const = default;
};

struct Subscription {
  std::string filter;
  SubscribeOptions options;

  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // never empty once decoded
  Properties properties;

  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  // 3.1.1 return codes map to kSuccess / kGrantedQos1 / kGrantedQos2 / kUnspecifiedError.
  std::vector<ReasonCode> reasons;
  Properties properties;

  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // never empty once decoded
  Properties properties;

  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  std::vector<ReasonCode> reasons;  // v5 only
  Properties properties;

  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reason = ReasonCode::kSuccess;  // v5 only
  Properties properties;                     // v5 only

  bool operator==(const Disconnect&) const = default;
};

// v5 only.
struct Auth {
  ReasonCode reason = ReasonCode::kSuccess;
  Properties properties;

  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PublishResponse, Subscribe, Suback,
                            Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packetType(const Packet& packet);

}  // namespace fleetgate::mqtt
