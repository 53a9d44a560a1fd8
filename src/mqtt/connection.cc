#include "mqtt/connection.h"

#include <algorithm>
#include <utility>

namespace fleetgate::mqtt {

std::string_view disconnectReasonName(DisconnectReason reason) {
  switch (reason) {
    case DisconnectReason::kNone: return "NONE";
    case DisconnectReason::kAuthError: return "AUTH_ERROR";
    case DisconnectReason::kClientInitiated: return "CLIENT_INITIATED_DISCONNECT";
    case DisconnectReason::kClientError: return "CLIENT_ERROR";
    case DisconnectReason::kConnectionLost: return "CONNECTION_LOST";
    case DisconnectReason::kDuplicateClientId: return "DUPLICATE_CLIENTID";
    case DisconnectReason::kForbiddenAccess: return "FORBIDDEN_ACCESS";
    case DisconnectReason::kKeepAliveTimeout: return "MQTT_KEEP_ALIVE_TIMEOUT";
    case DisconnectReason::kServerError: return "SERVER_ERROR";
    case DisconnectReason::kServerInitiated: return "SERVER_INITIATED_DISCONNECT";
    case DisconnectReason::kApiInitiated: return "API_INITIATED_DISCONNECT";
    case DisconnectReason::kThrottled: return "THROTTLED";
  }
  return "UNKNOWN";
}

std::uint16_t Session::allocatePacketId() {
  for (;;) {
    const std::uint16_t id = next_packet_id;
    next_packet_id = static_cast<std::uint16_t>(next_packet_id == 0xffff ? 1 : next_packet_id + 1);
    const bool used = std::any_of(inflight.begin(), inflight.end(),
                                  [id](const InflightDelivery& d) { return d.packet_id == id; });
    if (!used) return id;
  }
}

namespace {

bool isFailure(ReasonCode reason) { return static_cast<std::uint8_t>(reason) >= 0x80; }

Property integerProperty(PropertyId id, std::uint32_t value) {
  Property p;
  p.id = id;
  p.integer = value;
  return p;
}

Property stringProperty(PropertyId id, std::string value) {
  Property p;
  p.id = id;
  p.value = std::move(value);
  return p;
}

}  // namespace

Connection::Connection(ConnectionLimits limits)
    : limits_(limits), decoder_(limits.decoder), send_maximum_(limits.send_maximum) {}

void Connection::receive(std::string_view bytes, SteadyTime now,
                         std::vector<ConnectionEvent>& events) {
  if (closed()) return;
  if (!bytes.empty()) decoder_.feed(bytes);
  // While the broker decides a CONNECT, later packets wait in the decoder: accept() is followed
  // by receive({}) to go on, so a client that pipelines after CONNECT loses nothing.
  while (!closed() && state_ != State::kConnecting) {
    DecodeResult result = decoder_.next();
    if (std::holds_alternative<std::monostate>(result)) break;
    if (auto* error = std::get_if<DecodeError>(&result)) {
      if (state_ == State::kAwaitingConnect &&
          error->reason == ReasonCode::kUnsupportedProtocolVersion) {
        // MQTT 3.1.1 §3.1.2.2: answer return code 1 in the 3.1.1 layout any client can read.
        write(Connack{false, ReasonCode::kUnsupportedProtocolVersion, {}});
      }
      protocolError(error->reason, std::move(error->detail));
      break;
    }
    handle(std::move(std::get<Packet>(result)), now, events);
  }
}

void Connection::handle(Packet&& packet, SteadyTime now, std::vector<ConnectionEvent>& events) {
  if (state_ == State::kAwaitingConnect) {
    if (auto* connect = std::get_if<Connect>(&packet)) {
      onConnect(std::move(*connect), events);
    } else {
      protocolError(ReasonCode::kProtocolError, "packet before CONNECT");
    }
    return;
  }
  switch (packetType(packet)) {
    case PacketType::kPublish:
      last_activity_ = now;
      onPublish(std::move(std::get<Publish>(packet)), events);
      break;
    case PacketType::kPuback:
      last_activity_ = now;
      onPuback(std::get<PublishResponse>(packet));
      break;
    case PacketType::kSubscribe:
      last_activity_ = now;
      onSubscribe(std::move(std::get<Subscribe>(packet)), events);
      break;
    case PacketType::kUnsubscribe:
      last_activity_ = now;
      events.push_back(UnsubscribeRequested{std::move(std::get<Unsubscribe>(packet))});
      break;
    case PacketType::kPingreq:
      last_activity_ = now;
      write(Pingresp{});
      break;
    case PacketType::kDisconnect:
      will_requested_ = std::get<Disconnect>(packet).reason == ReasonCode::kDisconnectWithWill;
      state_ = State::kClosed;
      close_reason_ = DisconnectReason::kClientInitiated;
      break;
    case PacketType::kConnect:
      protocolError(ReasonCode::kProtocolError, "second CONNECT");
      break;
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp:
      protocolError(ReasonCode::kQosNotSupported, "QoS 2 flow");
      break;
    default:
      protocolError(ReasonCode::kProtocolError, "unexpected packet from a client");
      break;
  }
}

void Connection::onConnect(Connect&& connect, std::vector<ConnectionEvent>& events) {
  version_ = connect.version;
  state_ = State::kConnecting;  // refuse() below needs it
  if (connect.client_id.size() > limits_.max_client_id_bytes ||
      (connect.client_id.empty() && !connect.clean_start)) {
    refuse(ReasonCode::kClientIdentifierNotValid);
    return;
  }
  if (connect.will) {
    if (!isValidTopicName(connect.will->topic, limits_.topics)) {
      refuse(ReasonCode::kTopicNameInvalid);
      return;
    }
    if (connect.will->qos == Qos::kExactlyOnce) {
      refuse(ReasonCode::kQosNotSupported);
      return;
    }
  }
  if (findProperty(connect.properties, PropertyId::kAuthenticationMethod) != nullptr) {
    refuse(ReasonCode::kBadAuthenticationMethod);
    return;
  }
  if (const Property* p = findProperty(connect.properties, PropertyId::kReceiveMaximum)) {
    send_maximum_ = static_cast<std::uint16_t>(
        std::min<std::uint32_t>(limits_.send_maximum, std::max<std::uint32_t>(p->integer, 1)));
  }
  if (const Property* p = findProperty(connect.properties, PropertyId::kMaximumPacketSize)) {
    client_max_packet_ = p->integer;
  }
  // AWS: 0 or above the maximum means the maximum; below the minimum means the minimum.
  keep_alive_ = connect.keep_alive == 0 || connect.keep_alive > limits_.max_keep_alive
                    ? limits_.max_keep_alive
                    : std::max(connect.keep_alive, limits_.min_keep_alive);
  events.push_back(ConnectRequested{std::move(connect)});
}

void Connection::accept(std::shared_ptr<Session> session, ReceiveGate may_receive,
                        const AcceptOptions& options, SteadyTime now) {
  if (state_ != State::kConnecting) return;
  Connack connack;
  connack.session_present = options.session_present;
  if (version_ == ProtocolVersion::kV5) {
    auto& p = connack.properties;
    p.push_back(integerProperty(PropertyId::kReceiveMaximum, limits_.receive_maximum));
    p.push_back(integerProperty(PropertyId::kMaximumQos, 1));
    p.push_back(integerProperty(PropertyId::kRetainAvailable, 1));
    p.push_back(integerProperty(PropertyId::kMaximumPacketSize, limits_.decoder.max_packet_size));
    p.push_back(integerProperty(PropertyId::kTopicAliasMaximum, limits_.topic_alias_maximum));
    p.push_back(integerProperty(PropertyId::kWildcardSubscriptionAvailable, 1));
    p.push_back(integerProperty(PropertyId::kSubscriptionIdentifierAvailable, 0));
    p.push_back(integerProperty(PropertyId::kSharedSubscriptionAvailable, 0));
    p.push_back(integerProperty(PropertyId::kServerKeepAlive, keep_alive_));
    if (!options.assigned_client_id.empty()) {
      p.push_back(stringProperty(PropertyId::kAssignedClientIdentifier, options.assigned_client_id));
    }
    if (options.session_expiry) {
      p.push_back(integerProperty(PropertyId::kSessionExpiryInterval, *options.session_expiry));
    }
  }
  write(connack);
  state_ = State::kConnected;
  last_activity_ = now;
  session_ = std::move(session);
  may_receive_ = std::move(may_receive);
  // A copy: a redelivery the gate refuses leaves the session's in-flight list.
  const std::vector<InflightDelivery> resend = session_->inflight;
  for (const InflightDelivery& d : resend) send(d.delivery, d.packet_id, true);
  drainQueue();
}

void Connection::refuse(ReasonCode reason) {
  if (state_ != State::kConnecting) return;
  // A 3.1.1 CONNACK has return codes 1-5 only; reasons without one just close the connection.
  write(Connack{false, reason, {}});
  state_ = State::kClosed;
  close_reason_ = reason == ReasonCode::kNotAuthorized || reason == ReasonCode::kBanned ||
                          reason == ReasonCode::kBadUserNameOrPassword
                      ? DisconnectReason::kAuthError
                  : reason == ReasonCode::kServerUnavailable || reason == ReasonCode::kServerBusy
                      ? DisconnectReason::kServerError
                      : DisconnectReason::kClientError;
}

void Connection::onPublish(Publish&& publish, std::vector<ConnectionEvent>& events) {
  if (publish.qos == Qos::kExactlyOnce) {
    protocolError(ReasonCode::kQosNotSupported, "QoS 2 PUBLISH");
    return;
  }
  auto alias = std::find_if(publish.properties.begin(), publish.properties.end(),
                            [](const Property& p) { return p.id == PropertyId::kTopicAlias; });
  if (alias != publish.properties.end()) {
    if (alias->integer == 0 || alias->integer > limits_.topic_alias_maximum) {
      protocolError(ReasonCode::kTopicAliasInvalid, "topic alias out of range");
      return;
    }
    if (topic_aliases_.empty()) topic_aliases_.resize(limits_.topic_alias_maximum);
    std::string& mapped = topic_aliases_[alias->integer - 1];
    if (publish.topic.empty()) {
      if (mapped.empty()) {
        protocolError(ReasonCode::kProtocolError, "unknown topic alias");
        return;
      }
      publish.topic = mapped;
    } else {
      mapped = publish.topic;
    }
    publish.properties.erase(alias);
  }
  if (!isValidTopicName(publish.topic, limits_.topics)) {
    protocolError(ReasonCode::kTopicNameInvalid, "invalid topic name");
    return;
  }
  if (publish.qos == Qos::kAtLeastOnce && ++inbound_unacked_ > limits_.receive_maximum) {
    protocolError(ReasonCode::kReceiveMaximumExceeded, "too many unacknowledged QoS 1 PUBLISH");
    return;
  }
  events.push_back(PublishReceived{std::move(publish)});
}

void Connection::completePublish(const Publish& publish, ReasonCode reason) {
  if (state_ != State::kConnected) return;
  if (isFailure(reason) && version_ == ProtocolVersion::kV311) {
    // 3.1.1 has no negative PUBACK: AWS closes the connection.
    state_ = State::kClosed;
    close_reason_ = reason == ReasonCode::kNotAuthorized ? DisconnectReason::kAuthError
                                                          : DisconnectReason::kClientError;
    return;
  }
  if (publish.qos != Qos::kAtLeastOnce) return;
  if (inbound_unacked_ > 0) --inbound_unacked_;
  write(PublishResponse{PacketType::kPuback, publish.packet_id, reason, {}});
}

void Connection::onPuback(const PublishResponse& response) {
  if (!session_) return;
  auto& inflight = session_->inflight;
  auto it = std::find_if(inflight.begin(), inflight.end(), [&](const InflightDelivery& d) {
    return d.packet_id == response.packet_id;
  });
  if (it == inflight.end()) return;  // late or duplicate acknowledgement
  inflight.erase(it);
  drainQueue();
}

void Connection::onSubscribe(Subscribe&& subscribe, std::vector<ConnectionEvent>& events) {
  if (findProperty(subscribe.properties, PropertyId::kSubscriptionIdentifier) != nullptr) {
    protocolError(ReasonCode::kSubscriptionIdentifiersNotSupported,
                  "subscription identifiers are not supported");
    return;
  }
  // The session's subscription quota is the broker's to enforce, when it grants: pipelined
  // SUBSCRIBEs are decoded here before the broker has granted any of them.
  std::vector<ReasonCode> refused(subscribe.subscriptions.size(), ReasonCode::kSuccess);
  for (std::size_t i = 0; i < subscribe.subscriptions.size(); ++i) {
    Subscription& s = subscribe.subscriptions[i];
    if (s.options.qos == Qos::kExactlyOnce) s.options.qos = Qos::kAtLeastOnce;  // AWS: QoS 0/1
    if (i >= limits_.max_filters_per_subscribe) {
      refused[i] = ReasonCode::kQuotaExceeded;
    } else if (s.filter.starts_with("$share/")) {
      refused[i] = ReasonCode::kSharedSubscriptionsNotSupported;
    } else if (!isValidTopicFilter(s.filter, limits_.topics)) {
      refused[i] = ReasonCode::kTopicFilterInvalid;
    }
  }
  events.push_back(SubscribeRequested{std::move(subscribe), std::move(refused)});
}

void Connection::completeSubscribe(std::uint16_t packet_id,
                                   const std::vector<ReasonCode>& reasons) {
  if (state_ != State::kConnected) return;
  if (version_ == ProtocolVersion::kV311 &&
      std::find(reasons.begin(), reasons.end(), ReasonCode::kNotAuthorized) != reasons.end()) {
    state_ = State::kClosed;  // AWS closes a 3.1.1 connection on an unauthorized SUBSCRIBE
    close_reason_ = DisconnectReason::kAuthError;
    return;
  }
  write(Suback{packet_id, reasons, {}});
}

void Connection::completeUnsubscribe(std::uint16_t packet_id,
                                     const std::vector<ReasonCode>& reasons) {
  if (state_ != State::kConnected) return;
  write(Unsuback{packet_id, reasons, {}});
}

DeliveryResult Connection::deliver(Delivery delivery) {
  if (closed() || !session_) return DeliveryResult::kDropped;
  if (delivery.qos == Qos::kAtMostOnce) {
    if (state_ != State::kConnected || outgoing_.size() >= limits_.max_pending_bytes) {
      return DeliveryResult::kDropped;
    }
    return send(delivery, 0, false) ? DeliveryResult::kAccepted : DeliveryResult::kDenied;
  }
  auto& s = *session_;
  if (state_ == State::kConnected && s.queued.empty() && s.inflight.size() < send_maximum_) {
    const std::uint16_t id = s.allocatePacketId();
    s.inflight.push_back(InflightDelivery{id, delivery});
    return send(delivery, id, false) ? DeliveryResult::kAccepted : DeliveryResult::kDenied;
  }
  // Queued: the gate decides when it leaves the queue.
  const bool full = s.queued.size() >= limits_.max_queued_messages;
  if (full) s.queued.pop_front();
  s.queued.push_back(std::move(delivery));
  return full ? DeliveryResult::kDropped : DeliveryResult::kAccepted;
}

void Connection::drainQueue() {
  auto& s = *session_;
  while (state_ == State::kConnected && !s.queued.empty() && s.inflight.size() < send_maximum_) {
    Delivery d = std::move(s.queued.front());
    s.queued.pop_front();
    const std::uint16_t id = s.allocatePacketId();
    s.inflight.push_back(InflightDelivery{id, d});
    send(d, id, false);
  }
}

bool Connection::send(const Delivery& delivery, std::uint16_t packet_id, bool dup) {
  const Message& m = *delivery.message;
  if (!may_receive_ || !may_receive_(m)) {
    forgetInflight(packet_id);
    return false;
  }
  const std::size_t before = outgoing_.size();
  PublishView view{m.topic,   m.payload, delivery.qos, delivery.retain, dup, packet_id,
                   &m.properties};
  const bool encoded = encodePublishTo(view, version_, outgoing_);
  if (encoded && (client_max_packet_ == 0 || outgoing_.size() - before <= client_max_packet_)) {
    return true;
  }
  // MQTT 5 §3.1.2.11.4: a packet over the client's maximum is discarded as if delivered.
  outgoing_.resize(before);
  forgetInflight(packet_id);
  return true;
}

void Connection::forgetInflight(std::uint16_t packet_id) {
  if (packet_id == 0) return;
  std::erase_if(session_->inflight,
                [&](const InflightDelivery& d) { return d.packet_id == packet_id; });
}

void Connection::close(DisconnectReason reason, ReasonCode v5_reason) {
  if (closed()) return;
  if (state_ == State::kConnected && version_ == ProtocolVersion::kV5) {
    write(Disconnect{v5_reason, {}});
  }
  state_ = State::kClosed;
  close_reason_ = reason;
}

void Connection::lost() {
  if (closed()) return;
  state_ = State::kClosed;
  close_reason_ = DisconnectReason::kConnectionLost;
}

void Connection::protocolError(ReasonCode v5_reason, std::string detail) {
  close_detail_ = std::move(detail);
  close(DisconnectReason::kClientError, v5_reason);
}

bool Connection::keepAliveExpired(SteadyTime now) const {
  if (state_ != State::kConnected) return false;
  return now - last_activity_ > std::chrono::milliseconds(std::uint32_t{keep_alive_} * 1500);
}

void Connection::write(const Packet& packet) { encodeTo(packet, version_, outgoing_); }

bool Connection::takeOutgoing(std::string& out) {
  if (outgoing_.empty()) return false;
  if (out.empty()) {
    out.swap(outgoing_);
  } else {
    out.append(outgoing_);
    outgoing_.clear();
  }
  return true;
}

void Connection::releaseMemory() {
  if (outgoing_.empty()) std::string().swap(outgoing_);
  decoder_.releaseMemory();
}

}  // namespace fleetgate::mqtt
