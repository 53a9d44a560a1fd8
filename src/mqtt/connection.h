#pragma once

// The protocol state of one MQTT network connection, without I/O: bytes received go in through
// receive(), which yields the requests the broker must decide (connect, publish, subscribe,
// unsubscribe); the broker answers through accept()/refuse()/complete*()/deliver(); everything
// to send accumulates for takeOutgoing(). Time is passed in, never read.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/codec.h"
#include "mqtt/packet.h"
#include "mqtt/session.h"
#include "mqtt/topic.h"

namespace fleetgate::mqtt {

using SteadyTime = std::chrono::steady_clock::time_point;

// AWS `disconnectReason` values (spec §9.6).
enum class DisconnectReason : std::uint8_t {
  kNone,
  kAuthError,
  kClientInitiated,
  kClientError,
  kConnectionLost,
  kDuplicateClientId,
  kForbiddenAccess,
  kKeepAliveTimeout,
  kServerError,
  kServerInitiated,
  kApiInitiated,
  kThrottled,
};
std::string_view disconnectReasonName(DisconnectReason reason);

// AWS IoT defaults (spec §9.4).
struct ConnectionLimits {
  DecoderOptions decoder;
  std::size_t max_client_id_bytes = 128;
  std::size_t max_filters_per_subscribe = 8;
  std::size_t max_subscriptions = 50;
  std::uint16_t receive_maximum = 100;  // inbound QoS 1 not yet acknowledged
  std::uint16_t send_maximum = 100;     // outbound QoS 1 in flight (lowered by the client's)
  std::uint16_t topic_alias_maximum = 8;
  std::uint16_t min_keep_alive = 30;
  std::uint16_t max_keep_alive = 1200;
  // QoS 0 deliveries are dropped while this much is waiting to be sent (a slow reader).
  std::size_t max_pending_bytes = 4 << 20;
  // QoS 1 messages waiting for the in-flight window of a connected client (publishers are not
  // slowed down by subscribers); beyond it the oldest is dropped.
  std::size_t max_queued_messages = 100'000;
  TopicLimits topics;
};

struct ConnectRequested {
  Connect connect;
};
// Topic alias resolved, topic validated (no wildcards, AWS length/depth limits).
struct PublishReceived {
  Publish publish;
};
// Filters checked for syntax and the AWS count limits: refused[i] is kSuccess when the broker
// decides filter i, else the failure it must answer for it.
struct SubscribeRequested {
  Subscribe subscribe;
  std::vector<ReasonCode> refused;
};
struct UnsubscribeRequested {
  Unsubscribe unsubscribe;
};
using ConnectionEvent =
    std::variant<ConnectRequested, PublishReceived, SubscribeRequested, UnsubscribeRequested>;

// Asked at the moment a PUBLISH is written whether the connection may receive it. Live, queued,
// resumed and redelivered messages all pass here, so what decides is the policy in force when
// the message leaves, not the one in force when it was routed or queued.
using ReceiveGate = std::function<bool(const Message& message)>;

// What became of one deliver().
enum class DeliveryResult : std::uint8_t {
  kAccepted,  // written, or queued for the in-flight window
  kDropped,   // this QoS 0 message for a slow reader, or the oldest queued one to make room
  kDenied,    // the receive gate refused it
};

struct AcceptOptions {
  bool session_present = false;
  std::string assigned_client_id;         // v5: when the client sent an empty id
  std::optional<std::uint32_t> session_expiry;  // v5: when the broker capped the request
};

class Connection {
 public:
  enum class State { kAwaitingConnect, kConnecting, kConnected, kClosed };

  explicit Connection(ConnectionLimits limits = {});

  // Decodes every complete packet in `bytes` and appends the broker's decisions to make to
  // `events`. A protocol violation closes the connection (state() == kClosed, closeReason()).
  void receive(std::string_view bytes, SteadyTime now, std::vector<ConnectionEvent>& events);

  // Answers to ConnectRequested. accept() sends CONNACK, attaches the session and resends what
  // it had in flight, then what was queued, each through `may_receive` like every later
  // delivery. refuse() sends CONNACK with the reason and closes.
  void accept(std::shared_ptr<Session> session, ReceiveGate may_receive,
              const AcceptOptions& options, SteadyTime now);
  void refuse(ReasonCode reason);

  // Answer to PublishReceived: PUBACK for QoS 1. A failure reason (>= 0x80) is a PUBACK reason
  // in v5 and closes a 3.1.1 connection (which has no way to say it) as kAuthError.
  void completePublish(const Publish& publish, ReasonCode reason);
  void completeSubscribe(std::uint16_t packet_id, const std::vector<ReasonCode>& reasons);
  void completeUnsubscribe(std::uint16_t packet_id, const std::vector<ReasonCode>& reasons);

  // Sends or queues one message (QoS 1 waits for a free in-flight slot in the session).
  DeliveryResult deliver(Delivery delivery);

  // Server-side close: v5 clients get DISCONNECT with `v5_reason` (when connected).
  void close(DisconnectReason reason, ReasonCode v5_reason);
  // The network went away or the client's bytes stopped; no packet is written.
  void lost();

  // Keep-alive (AWS rules): true once 1.5x the effective keep-alive passed without activity.
  bool keepAliveExpired(SteadyTime now) const;

  bool takeOutgoing(std::string& out);
  std::size_t pendingBytes() const { return outgoing_.size(); }
  // Drops buffer capacity kept from earlier traffic (idle connections stay small).
  void releaseMemory();

  State state() const { return state_; }
  bool closed() const { return state_ == State::kClosed; }
  DisconnectReason closeReason() const { return close_reason_; }
  // For the log: why a protocol error closed the connection.
  const std::string& closeDetail() const { return close_detail_; }
  // The client's DISCONNECT asked for its will (v5 reason 0x04).
  bool willRequested() const { return will_requested_; }
  ProtocolVersion version() const { return version_; }
  std::uint16_t keepAlive() const { return keep_alive_; }

 private:
  void handle(Packet&& packet, SteadyTime now, std::vector<ConnectionEvent>& events);
  void onConnect(Connect&& connect, std::vector<ConnectionEvent>& events);
  void onPublish(Publish&& publish, std::vector<ConnectionEvent>& events);
  void onPuback(const PublishResponse& response);
  void onSubscribe(Subscribe&& subscribe, std::vector<ConnectionEvent>& events);
  void protocolError(ReasonCode v5_reason, std::string detail);
  void write(const Packet& packet);
  // Writes one PUBLISH if the gate allows it; false when it did not go out (a packet id it held
  // is given back).
  bool send(const Delivery& delivery, std::uint16_t packet_id, bool dup);
  void forgetInflight(std::uint16_t packet_id);
  void drainQueue();

  ConnectionLimits limits_;
  Decoder decoder_;
  State state_ = State::kAwaitingConnect;
  ProtocolVersion version_ = ProtocolVersion::kV311;
  DisconnectReason close_reason_ = DisconnectReason::kNone;
  std::string close_detail_;
  bool will_requested_ = false;
  std::uint16_t keep_alive_ = 0;  // effective, seconds
  SteadyTime last_activity_{};
  std::uint16_t inbound_unacked_ = 0;
  std::uint16_t send_maximum_ = 0;
  std::uint32_t client_max_packet_ = 0;  // 0: no limit announced
  std::vector<std::string> topic_aliases_;  // index alias-1; v5 inbound; sized on first use
  std::shared_ptr<Session> session_;
  ReceiveGate may_receive_;
  std::string outgoing_;
};

}  // namespace fleetgate::mqtt
