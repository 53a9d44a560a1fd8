#include "mqtt/connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <random>
#include <vector>

namespace fleetgate::mqtt {
namespace {

using std::chrono::seconds;

// Drives a Connection as the broker would and decodes what it sends back, like a client.
class ConnectionTest : public ::testing::Test {
 protected:
  static ReceiveGate allowAll() {
    return [](const Message&) { return true; };
  }

  void SetUp() override { now_ = SteadyTime{} + seconds(1000); }

  std::string bytes(const Packet& packet, ProtocolVersion version) {
    auto encoded = encode(packet, version);
    EXPECT_TRUE(encoded.has_value());
    return encoded.value_or("");
  }

  std::vector<ConnectionEvent> send(const Packet& packet) {
    return sendRaw(bytes(packet, version_));
  }

  std::vector<ConnectionEvent> sendRaw(std::string_view raw) {
    std::vector<ConnectionEvent> events;
    connection_.receive(raw, now_, events);
    return events;
  }

  // Every packet the connection wrote since the last call.
  std::vector<Packet> replies() { return written(connection_); }

  std::vector<Packet> written(Connection& connection) {
    std::string out;
    connection.takeOutgoing(out);
    Decoder decoder(DecoderOptions{kDefaultMaxPacketSize, 1 << 20, version_});
    decoder.feed(out);
    std::vector<Packet> packets;
    for (;;) {
      DecodeResult r = decoder.next();
      if (auto* p = std::get_if<Packet>(&r)) {
        packets.push_back(std::move(*p));
        continue;
      }
      EXPECT_FALSE(std::holds_alternative<DecodeError>(r));
      break;
    }
    return packets;
  }

  Connect connectPacket(std::string client_id = "dev-1") {
    Connect c;
    c.version = version_;
    c.client_id = std::move(client_id);
    c.keep_alive = 60;
    return c;
  }

  // Another connection with limits_, its CONNECT accepted on `session` with `gate`.
  std::unique_ptr<Connection> accepted(std::shared_ptr<Session> session, ReceiveGate gate,
                                       AcceptOptions options = {}) {
    auto c = std::make_unique<Connection>(limits_);
    std::vector<ConnectionEvent> events;
    c->receive(bytes(connectPacket(), version_), now_, events);
    c->accept(std::move(session), std::move(gate), options, now_);
    return c;
  }

  // CONNECT accepted with a fresh session.
  void connect(Connect c) {
    auto events = send(c);
    ASSERT_EQ(events.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<ConnectRequested>(events[0]));
    session_ = std::make_shared<Session>();
    connection_.accept(session_, allowAll(), AcceptOptions{}, now_);
    auto sent = replies();
    ASSERT_EQ(sent.size(), 1u);
    ASSERT_EQ(std::get<Connack>(sent[0]).reason, ReasonCode::kSuccess);
  }

  static MessagePtr message(std::string topic, std::string payload, Qos qos = Qos::kAtLeastOnce) {
    auto m = std::make_shared<Message>();
    m->topic = std::move(topic);
    m->payload = std::move(payload);
    m->qos = qos;
    return m;
  }

  ProtocolVersion version_ = ProtocolVersion::kV311;
  ConnectionLimits limits_;
  Connection connection_{limits_};
  std::shared_ptr<Session> session_;
  SteadyTime now_;
};

TEST_F(ConnectionTest, ConnectIsDecidedByTheBrokerThenAnswered) {
  auto events = send(connectPacket());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<ConnectRequested>(events[0]).connect.client_id, "dev-1");
  EXPECT_EQ(connection_.state(), Connection::State::kConnecting);
  EXPECT_TRUE(replies().empty());  // nothing until the broker decides

  connection_.accept(std::make_shared<Session>(), allowAll(), AcceptOptions{true, {}, {}}, now_);
  auto sent = replies();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(std::get<Connack>(sent[0]).session_present);
  EXPECT_EQ(connection_.state(), Connection::State::kConnected);
}

TEST_F(ConnectionTest, RefusedConnectAnswersReturnCodeFiveAndCloses) {
  send(connectPacket());
  connection_.refuse(ReasonCode::kNotAuthorized);
  auto sent = replies();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(std::get<Connack>(sent[0]).reason, ReasonCode::kNotAuthorized);
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kAuthError);
}

TEST_F(ConnectionTest, PacketsPipelinedBehindConnectWaitForTheDecision) {
  std::string raw = bytes(connectPacket(), version_);
  raw += bytes(Publish{"a/b", "x", Qos::kAtMostOnce, false, false, 0, {}}, version_);
  auto events = sendRaw(raw);
  ASSERT_EQ(events.size(), 1u);  // the PUBLISH is held back
  connection_.accept(std::make_shared<Session>(), allowAll(), AcceptOptions{}, now_);
  events = sendRaw({});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<PublishReceived>(events[0]).publish.topic, "a/b");
}

TEST_F(ConnectionTest, PacketBeforeConnectCloses) {
  auto events = send(Pingreq{});
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kClientError);
  EXPECT_TRUE(replies().empty());
}

TEST_F(ConnectionTest, SecondConnectCloses) {
  connect(connectPacket());
  auto events = send(connectPacket());
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kClientError);
}

TEST_F(ConnectionTest, WrongProtocolLevelGetsReturnCodeOne) {
  std::string raw = bytes(connectPacket(), version_);
  raw[8] = 3;  // protocol level byte of "\x10<len>\0\x04MQTT<level>"
  sendRaw(raw);
  EXPECT_TRUE(connection_.closed());
  auto sent = replies();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(std::get<Connack>(sent[0]).reason, ReasonCode::kUnsupportedProtocolVersion);
}

TEST_F(ConnectionTest, ClientIdRules) {
  Connect too_long = connectPacket(std::string(129, 'c'));
  send(too_long);
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(std::get<Connack>(replies().at(0)).reason, ReasonCode::kClientIdentifierNotValid);

  Connection persistent_without_id(limits_);
  Connect c = connectPacket("");
  c.clean_start = false;
  std::vector<ConnectionEvent> events;
  persistent_without_id.receive(bytes(c, version_), now_, events);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(persistent_without_id.closed());
}

TEST_F(ConnectionTest, KeepAliveFollowsAwsClamping) {
  const std::pair<std::uint16_t, std::uint16_t> cases[] = {
      {0, 1200}, {1, 30}, {29, 30}, {30, 30}, {600, 600}, {1200, 1200}, {1201, 1200}};
  for (auto [requested, effective] : cases) {
    Connection c(limits_);
    Connect packet = connectPacket();
    packet.keep_alive = requested;
    std::vector<ConnectionEvent> events;
    c.receive(bytes(packet, version_), now_, events);
    EXPECT_EQ(c.keepAlive(), effective) << requested;
  }
}

TEST_F(ConnectionTest, KeepAliveExpiresAfterOneAndAHalfTimesWithoutActivity) {
  Connect c = connectPacket();
  c.keep_alive = 40;
  connect(c);
  now_ += seconds(59);
  EXPECT_FALSE(connection_.keepAliveExpired(now_));
  send(Pingreq{});  // activity at t+59
  EXPECT_TRUE(std::holds_alternative<Pingresp>(replies().at(0)));
  EXPECT_FALSE(connection_.keepAliveExpired(now_ + seconds(60)));
  EXPECT_TRUE(connection_.keepAliveExpired(now_ + seconds(61)));
}

TEST_F(ConnectionTest, QosOnePublishIsAcknowledgedWithTheBrokersReason) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  auto events = send(Publish{"a/b", "x", Qos::kAtLeastOnce, false, false, 7, {}});
  ASSERT_EQ(events.size(), 1u);
  const Publish& p = std::get<PublishReceived>(events[0]).publish;
  connection_.completePublish(p, ReasonCode::kNotAuthorized);
  auto sent = replies();
  ASSERT_EQ(sent.size(), 1u);
  const auto& ack = std::get<PublishResponse>(sent[0]);
  EXPECT_EQ(ack.packet_id, 7);
  EXPECT_EQ(ack.reason, ReasonCode::kNotAuthorized);
  EXPECT_FALSE(connection_.closed());
}

TEST_F(ConnectionTest, UnauthorizedPublishClosesAV311Connection) {
  connect(connectPacket());
  auto events = send(Publish{"a/b", "x", Qos::kAtLeastOnce, false, false, 7, {}});
  connection_.completePublish(std::get<PublishReceived>(events[0]).publish,
                              ReasonCode::kNotAuthorized);
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kAuthError);
  EXPECT_TRUE(replies().empty());  // no PUBACK
}

TEST_F(ConnectionTest, QosTwoPublishClosesWithQosNotSupported) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  auto events = send(Publish{"a/b", "x", Qos::kExactlyOnce, false, false, 3, {}});
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(std::get<Disconnect>(replies().at(0)).reason, ReasonCode::kQosNotSupported);
}

TEST_F(ConnectionTest, TopicsOverAwsLimitsCloseTheConnection) {
  connect(connectPacket());
  send(Publish{"a/b/c/d/e/f/g/h/i", "x", Qos::kAtMostOnce, false, false, 0, {}});  // 8 slashes
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kClientError);
}

TEST_F(ConnectionTest, TopicAliasesResolveAndBadAliasesClose) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  Property alias;
  alias.id = PropertyId::kTopicAlias;
  alias.integer = 2;
  auto events = send(Publish{"a/b", "1", Qos::kAtMostOnce, false, false, 0, {alias}});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::get<PublishReceived>(events[0]).publish.properties.empty());
  events = send(Publish{"", "2", Qos::kAtMostOnce, false, false, 0, {alias}});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<PublishReceived>(events[0]).publish.topic, "a/b");

  alias.integer = 9;  // above the Topic Alias Maximum of 8 the CONNACK announced
  send(Publish{"a/c", "3", Qos::kAtMostOnce, false, false, 0, {alias}});
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(std::get<Disconnect>(replies().at(0)).reason, ReasonCode::kTopicAliasInvalid);
}

TEST_F(ConnectionTest, TooManyUnacknowledgedInboundPublishesClose) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  for (std::uint16_t id = 1; id <= limits_.receive_maximum; ++id) {
    EXPECT_EQ(send(Publish{"a", "x", Qos::kAtLeastOnce, false, false, id, {}}).size(), 1u);
  }
  send(Publish{"a", "x", Qos::kAtLeastOnce, false, false, 999, {}});
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(std::get<Disconnect>(replies().at(0)).reason, ReasonCode::kReceiveMaximumExceeded);
}

TEST_F(ConnectionTest, SubscribeLimitsAreRefusedPerFilter) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  Subscribe s;
  s.packet_id = 1;
  for (int i = 0; i < 9; ++i) s.subscriptions.push_back({"t/" + std::to_string(i), {}});
  s.subscriptions[1].filter = "a/#/b";  // invalid
  s.subscriptions[2].options.qos = Qos::kExactlyOnce;
  auto events = send(s);
  ASSERT_EQ(events.size(), 1u);
  const auto& request = std::get<SubscribeRequested>(events[0]);
  EXPECT_EQ(request.refused[0], ReasonCode::kSuccess);
  EXPECT_EQ(request.refused[1], ReasonCode::kTopicFilterInvalid);
  EXPECT_EQ(request.subscribe.subscriptions[2].options.qos, Qos::kAtLeastOnce);  // AWS grants 1
  EXPECT_EQ(request.refused[8], ReasonCode::kQuotaExceeded);  // the ninth filter
}

TEST_F(ConnectionTest, UnauthorizedSubscribeClosesV311AndIsAReasonInV5) {
  connect(connectPacket());
  Subscribe s{1, {{"a", {}}}, {}};
  send(s);
  connection_.completeSubscribe(1, {ReasonCode::kNotAuthorized});
  EXPECT_TRUE(connection_.closed());

  version_ = ProtocolVersion::kV5;
  Connection v5(limits_);
  std::vector<ConnectionEvent> events;
  v5.receive(bytes(connectPacket(), version_), now_, events);
  v5.accept(std::make_shared<Session>(), allowAll(), {}, now_);
  v5.completeSubscribe(1, {ReasonCode::kNotAuthorized, ReasonCode::kGrantedQos1});
  EXPECT_FALSE(v5.closed());
}

TEST_F(ConnectionTest, QosOneDeliveriesRespectTheInflightWindowAndResumeWithDup) {
  connect(connectPacket());
  const std::size_t window = limits_.send_maximum;
  for (std::size_t i = 0; i < window + 5; ++i) {
    connection_.deliver({message("a", std::to_string(i)), Qos::kAtLeastOnce, false});
  }
  auto sent = replies();
  EXPECT_EQ(sent.size(), window);
  EXPECT_EQ(session_->inflight.size(), window);
  EXPECT_EQ(session_->queued.size(), 5u);

  // Acknowledging one lets one queued message out.
  const auto first_id = std::get<Publish>(sent[0]).packet_id;
  send(PublishResponse{PacketType::kPuback, first_id, ReasonCode::kSuccess, {}});
  sent = replies();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(std::get<Publish>(sent[0]).payload, std::to_string(window));

  // The client goes away; a new connection on the same session resends with DUP, then the rest.
  connection_.lost();
  Connection resumed(limits_);
  std::vector<ConnectionEvent> events;
  resumed.receive(bytes(connectPacket(), version_), now_, events);
  resumed.accept(session_, allowAll(), AcceptOptions{true, {}, {}}, now_);
  std::string out;
  resumed.takeOutgoing(out);
  Decoder decoder(DecoderOptions{kDefaultMaxPacketSize, 1 << 20, version_});
  decoder.feed(out);
  ASSERT_TRUE(std::holds_alternative<Connack>(std::get<Packet>(decoder.next())));
  std::size_t dups = 0;
  for (;;) {
    DecodeResult r = decoder.next();
    auto* p = std::get_if<Packet>(&r);
    if (p == nullptr) break;
    if (std::get<Publish>(*p).dup) ++dups;
  }
  EXPECT_EQ(dups, window);
}

// Every PUBLISH a connection writes passes its receive gate at that moment: a session resumed
// after the policy narrowed gets neither the in-flight nor the queued messages it may no longer
// receive, and they leave the session.
TEST_F(ConnectionTest, ResumeRedeliversAndDrainsOnlyWhatTheGateAllowsNow) {
  limits_.send_maximum = 2;
  auto session = std::make_shared<Session>();
  auto first = accepted(session, allowAll());
  for (std::string topic : {"secret/1", "own/2", "secret/3", "own/4"}) {
    EXPECT_EQ(first->deliver({message(topic, "m"), Qos::kAtLeastOnce, false}),
              DeliveryResult::kAccepted);
  }
  ASSERT_EQ(session->inflight.size(), 2u);  // secret/1 and own/2, never acknowledged
  ASSERT_EQ(session->queued.size(), 2u);
  first->lost();

  std::vector<std::string> asked;
  auto resumed = accepted(
      session,
      [&](const Message& m) {
        asked.push_back(m.topic);
        return !m.topic.starts_with("secret/");
      },
      AcceptOptions{true, {}, {}});
  const auto sent = written(*resumed);
  ASSERT_TRUE(std::holds_alternative<Connack>(sent.at(0)));
  std::vector<std::pair<std::string, bool>> published;  // topic, dup
  for (std::size_t i = 1; i < sent.size(); ++i) {
    const auto& p = std::get<Publish>(sent[i]);
    published.emplace_back(p.topic, p.dup);
  }
  EXPECT_EQ(published, (std::vector<std::pair<std::string, bool>>{{"own/2", true},
                                                                   {"own/4", false}}));
  EXPECT_EQ(asked, (std::vector<std::string>{"secret/1", "own/2", "secret/3", "own/4"}));
  EXPECT_EQ(session->queued.size(), 0u);
  ASSERT_EQ(session->inflight.size(), 2u);
  EXPECT_EQ(session->inflight[0].delivery.message->topic, "own/2");
  EXPECT_EQ(session->inflight[1].delivery.message->topic, "own/4");
}

TEST_F(ConnectionTest, QueuedMessagesMeetTheGateWhenTheyLeaveTheQueue) {
  limits_.send_maximum = 1;
  auto session = std::make_shared<Session>();
  bool allowed = true;
  auto connection = accepted(session, [&](const Message&) { return allowed; });
  Connection& c = *connection;
  EXPECT_EQ(c.deliver({message("t/1", "m"), Qos::kAtLeastOnce, false}), DeliveryResult::kAccepted);
  EXPECT_EQ(c.deliver({message("t/2", "m"), Qos::kAtLeastOnce, false}), DeliveryResult::kAccepted);
  EXPECT_EQ(written(c).size(), 2u);  // CONNACK, t/1
  allowed = false;  // the policy narrows while t/2 waits for the window
  const std::uint16_t id = session->inflight.at(0).packet_id;
  std::vector<ConnectionEvent> events;
  c.receive(bytes(PublishResponse{PacketType::kPuback, id, ReasonCode::kSuccess, {}}, version_),
            now_, events);
  std::string out;
  EXPECT_FALSE(c.takeOutgoing(out));
  EXPECT_TRUE(session->inflight.empty());
  EXPECT_TRUE(session->queued.empty());
  EXPECT_EQ(c.deliver({message("t/3", "m"), Qos::kAtMostOnce, false}), DeliveryResult::kDenied);
  EXPECT_EQ(c.deliver({message("t/4", "m"), Qos::kAtLeastOnce, false}), DeliveryResult::kDenied);
  EXPECT_FALSE(c.takeOutgoing(out));
}

// Property: whatever the sequence of deliveries, acknowledgements, lost connections, resumes
// and policy changes, no PUBLISH leaves that the gate did not allow at the moment it was written.
TEST_F(ConnectionTest, NoPublishLeavesWithoutTheGatesConsent) {
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 random(static_cast<std::uint32_t>(seed));
    auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(random() % n); };
    limits_.send_maximum = static_cast<std::uint16_t>(1 + pick(4));
    auto session = std::make_shared<Session>();
    std::uint32_t denied_digit = 10;  // topics t/<digit>; 10 denies none
    std::vector<std::string> written_while_denied;
    auto gate = [&](const Message& m) { return m.topic != "t/" + std::to_string(denied_digit); };
    std::unique_ptr<Connection> c;
    auto reconnect = [&] { c = accepted(session, gate, AcceptOptions{true, {}, {}}); };
    auto check = [&] {
      for (const Packet& packet : written(*c)) {
        const auto* p = std::get_if<Publish>(&packet);
        if (p != nullptr && p->topic == "t/" + std::to_string(denied_digit)) {
          written_while_denied.push_back(p->topic);
        }
      }
    };
    reconnect();
    check();
    for (int step = 0; step < 200; ++step) {
      switch (pick(6)) {
        case 0:
        case 1:
          c->deliver({message("t/" + std::to_string(pick(4)), "m"),
                      pick(2) ? Qos::kAtLeastOnce : Qos::kAtMostOnce, false});
          break;
        case 2:
          if (!session->inflight.empty()) {
            std::vector<ConnectionEvent> events;
            const auto id = session->inflight[pick(
                static_cast<std::uint32_t>(session->inflight.size()))].packet_id;
            c->receive(
                bytes(PublishResponse{PacketType::kPuback, id, ReasonCode::kSuccess, {}}, version_),
                now_, events);
          }
          break;
        case 3:
          c->lost();
          reconnect();
          break;
        default:
          denied_digit = pick(5) == 4 ? 10 : pick(4);
          break;
      }
      check();
    }
    ASSERT_EQ(written_while_denied, std::vector<std::string>{}) << "seed " << seed;
  }
}

TEST_F(ConnectionTest, QosZeroIsDroppedForASlowReader) {
  limits_.max_pending_bytes = 100;
  Connection slow(limits_);
  std::vector<ConnectionEvent> events;
  slow.receive(bytes(connectPacket(), version_), now_, events);
  slow.accept(std::make_shared<Session>(), allowAll(), {}, now_);
  std::string drop;
  slow.takeOutgoing(drop);
  for (int i = 0; i < 10; ++i) {
    slow.deliver({message("a", std::string(40, 'x'), Qos::kAtMostOnce), Qos::kAtMostOnce, false});
  }
  EXPECT_LT(slow.pendingBytes(), 200u);
}

TEST_F(ConnectionTest, DisconnectWithWillIsRemembered) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  send(Disconnect{ReasonCode::kDisconnectWithWill, {}});
  EXPECT_TRUE(connection_.closed());
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kClientInitiated);
  EXPECT_TRUE(connection_.willRequested());
}

TEST_F(ConnectionTest, ServerDisconnectTellsV5ClientsWhy) {
  version_ = ProtocolVersion::kV5;
  connect(connectPacket());
  connection_.close(DisconnectReason::kDuplicateClientId, ReasonCode::kSessionTakenOver);
  EXPECT_EQ(std::get<Disconnect>(replies().at(0)).reason, ReasonCode::kSessionTakenOver);
  EXPECT_EQ(connection_.closeReason(), DisconnectReason::kDuplicateClientId);
}

TEST_F(ConnectionTest, V5ConnackAnnouncesAwsLimits) {
  version_ = ProtocolVersion::kV5;
  send(connectPacket());
  connection_.accept(std::make_shared<Session>(), allowAll(), {}, now_);
  const auto sent = replies();
  const auto& connack = std::get<Connack>(sent.at(0));
  auto value = [&](PropertyId id) {
    const Property* p = findProperty(connack.properties, id);
    return p == nullptr ? -1 : static_cast<int>(p->integer);
  };
  EXPECT_EQ(value(PropertyId::kMaximumQos), 1);
  EXPECT_EQ(value(PropertyId::kReceiveMaximum), 100);
  EXPECT_EQ(value(PropertyId::kTopicAliasMaximum), 8);
  EXPECT_EQ(value(PropertyId::kSubscriptionIdentifierAvailable), 0);
  EXPECT_EQ(value(PropertyId::kSharedSubscriptionAvailable), 0);
  EXPECT_EQ(value(PropertyId::kServerKeepAlive), 60);
}

}  // namespace
}  // namespace fleetgate::mqtt
