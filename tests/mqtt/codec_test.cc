#include "mqtt/codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace fleetgate::mqtt {
namespace {

// Hand-written wire bytes, laid out from the packet diagrams of MQTT 3.1.1 / 5.0 §3.
std::string hex(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string out;
  std::string token;
  while (in >> token) out.push_back(static_cast<char>(std::stoi(token, nullptr, 16)));
  return out;
}

Property prop(PropertyId id, std::uint32_t integer) { return Property{id, integer, {}, {}}; }
Property prop(PropertyId id, std::string value) { return Property{id, 0, {}, std::move(value)}; }
Property userProp(std::string name, std::string value) {
  return Property{PropertyId::kUserProperty, 0, std::move(name), std::move(value)};
}

DecodeResult decodeOne(std::string_view bytes, std::optional<ProtocolVersion> version,
                       DecoderOptions options = {}) {
  options.version = version;
  Decoder decoder(options);
  decoder.feed(bytes);
  return decoder.next();
}

ReasonCode errorOf(const DecodeResult& result) {
  const auto* error = std::get_if<DecodeError>(&result);
  EXPECT_NE(error, nullptr) << "expected a decode error";
  return error != nullptr ? error->reason : ReasonCode::kSuccess;
}

struct WireCase {
  const char* name;
  ProtocolVersion version;
  const char* bytes;
  Packet packet;
};

std::vector<WireCase> wireCases() {
  using PV = ProtocolVersion;
  std::vector<WireCase> cases;
  {
    Connect c;
    c.client_id = "c";
    c.keep_alive = 60;
    cases.push_back({"connect_v311", PV::kV311, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 63", c});
  }
  {
    Connect c;
    c.client_id = "c";
    c.clean_start = true;
    c.keep_alive = 0;
    c.will = Will{"w", "bye", Qos::kAtLeastOnce, true, {}};
    cases.push_back({"connect_v311_will", PV::kV311,
                     "10 15 00 04 4D 51 54 54 04 2E 00 00 00 01 63 00 01 77 00 03 62 79 65", c});
  }
  {
    // MQTT 5 §3.1.2.11 example header: flags C2, keep alive 10, session expiry 10.
    Connect c;
    c.version = PV::kV5;
    c.keep_alive = 10;
    c.properties = {prop(PropertyId::kSessionExpiryInterval, 10)};
    c.client_id = "c";
    c.username = "u";
    c.password = "p";
    cases.push_back({"connect_v5", PV::kV5,
                     "10 19 00 04 4D 51 54 54 05 C2 00 0A 05 11 00 00 00 0A"
                     " 00 01 63 00 01 75 00 01 70",
                     c});
  }
  {
    Connect c;
    c.version = PV::kV5;
    c.clean_start = false;
    c.client_id = "";
    c.will = Will{"w", "", Qos::kAtMostOnce, false, {prop(PropertyId::kWillDelayInterval, 5)}};
    cases.push_back({"connect_v5_will", PV::kV5,
                     "10 18 00 04 4D 51 54 54 05 04 00 00 00 00 00 05 18 00 00 00 05"
                     " 00 01 77 00 00",
                     c});
  }
  cases.push_back(
      {"connack_v311", PV::kV311, "20 02 01 00", Connack{true, ReasonCode::kSuccess, {}}});
  cases.push_back({"connack_v311_refused", PV::kV311, "20 02 00 05",
                   Connack{false, ReasonCode::kNotAuthorized, {}}});
  cases.push_back(
      {"connack_v5", PV::kV5, "20 07 00 00 04 24 01 25 00",
       Connack{false,
               ReasonCode::kSuccess,
               {prop(PropertyId::kMaximumQos, 1), prop(PropertyId::kRetainAvailable, 0)}}});
  cases.push_back({"publish_v311_qos1", PV::kV311, "32 09 00 03 61 2F 62 00 0A 68 69",
                   Publish{"a/b", "hi", Qos::kAtLeastOnce, false, false, 10, {}}});
  cases.push_back({"publish_v311_qos0_retain", PV::kV311, "31 05 00 01 61 68 69",
                   Publish{"a", "hi", Qos::kAtMostOnce, true, false, 0, {}}});
  cases.push_back({"publish_v311_qos2_dup", PV::kV311, "3C 05 00 01 61 00 07",
                   Publish{"a", "", Qos::kExactlyOnce, false, true, 7, {}}});
  cases.push_back(
      {"publish_v5_alias", PV::kV5, "30 06 00 00 03 23 00 01",
       Publish{"", "", Qos::kAtMostOnce, false, false, 0, {prop(PropertyId::kTopicAlias, 1)}}});
  cases.push_back({"publish_v5_properties", PV::kV5,
                   "32 28 00 01 74 00 01 20"
                   " 01 01  02 00 00 00 3C  03 00 04 6A 73 6F 6E  08 00 01 72  09 00 02 AB CD"
                   " 26 00 01 6B 00 01 76  0B 05  7B 7D",
                   Publish{"t",
                           "{}",
                           Qos::kAtLeastOnce,
                           false,
                           false,
                           1,
                           {prop(PropertyId::kPayloadFormatIndicator, 1),
                            prop(PropertyId::kMessageExpiryInterval, 60),
                            prop(PropertyId::kContentType, std::string("json")),
                            prop(PropertyId::kResponseTopic, std::string("r")),
                            prop(PropertyId::kCorrelationData, std::string("\xAB\xCD")),
                            userProp("k", "v"), prop(PropertyId::kSubscriptionIdentifier, 5)}}});
  cases.push_back({"puback_v311", PV::kV311, "40 02 00 0A",
                   PublishResponse{PacketType::kPuback, 10, ReasonCode::kSuccess, {}}});
  cases.push_back({"puback_v5_short", PV::kV5, "40 02 00 0A",
                   PublishResponse{PacketType::kPuback, 10, ReasonCode::kSuccess, {}}});
  cases.push_back(
      {"puback_v5_reason", PV::kV5, "40 03 00 0A 10",
       PublishResponse{PacketType::kPuback, 10, ReasonCode::kNoMatchingSubscribers, {}}});
  cases.push_back({"puback_v5_reason_string", PV::kV5, "40 07 00 0A 87 03 1F 00 00",
                   PublishResponse{PacketType::kPuback,
                                   10,
                                   ReasonCode::kNotAuthorized,
                                   {prop(PropertyId::kReasonString, std::string())}}});
  cases.push_back({"pubrec_v311", PV::kV311, "50 02 00 05",
                   PublishResponse{PacketType::kPubrec, 5, ReasonCode::kSuccess, {}}});
  cases.push_back(
      {"pubrel_v5", PV::kV5, "62 03 00 05 92",
       PublishResponse{PacketType::kPubrel, 5, ReasonCode::kPacketIdentifierNotFound, {}}});
  cases.push_back({"pubcomp_v311", PV::kV311, "70 02 00 05",
                   PublishResponse{PacketType::kPubcomp, 5, ReasonCode::kSuccess, {}}});
  cases.push_back({"subscribe_v311", PV::kV311, "82 08 00 01 00 03 61 2F 23 01",
                   Subscribe{1, {{"a/#", {Qos::kAtLeastOnce}}}, {}}});
  cases.push_back({"subscribe_v5_options", PV::kV5, "82 0B 00 01 02 0B 01 00 03 61 2F 23 2D",
                   Subscribe{1,
                             {{"a/#", {Qos::kAtLeastOnce, true, true, RetainHandling::kDoNotSend}}},
                             {prop(PropertyId::kSubscriptionIdentifier, 1)}}});
  cases.push_back({"suback_v311", PV::kV311, "90 04 00 01 01 80",
                   Suback{1, {ReasonCode::kGrantedQos1, ReasonCode::kUnspecifiedError}, {}}});
  cases.push_back({"suback_v5", PV::kV5, "90 05 00 01 00 00 87",
                   Suback{1, {ReasonCode::kSuccess, ReasonCode::kNotAuthorized}, {}}});
  cases.push_back(
      {"unsubscribe_v311", PV::kV311, "A2 05 00 02 00 01 61", Unsubscribe{2, {"a"}, {}}});
  cases.push_back({"unsubscribe_v5", PV::kV5, "A2 0D 00 02 07 26 00 01 6B 00 01 76 00 01 61",
                   Unsubscribe{2, {"a"}, {userProp("k", "v")}}});
  cases.push_back({"unsuback_v311", PV::kV311, "B0 02 00 02", Unsuback{2, {}, {}}});
  cases.push_back({"unsuback_v5", PV::kV5, "B0 04 00 02 00 11",
                   Unsuback{2, {ReasonCode::kNoSubscriptionExisted}, {}}});
  cases.push_back({"pingreq", PV::kV311, "C0 00", Pingreq{}});
  cases.push_back({"pingresp", PV::kV5, "D0 00", Pingresp{}});
  cases.push_back({"disconnect_v311", PV::kV311, "E0 00", Disconnect{}});
  cases.push_back({"disconnect_v5_short", PV::kV5, "E0 00", Disconnect{}});
  cases.push_back(
      {"disconnect_v5_reason", PV::kV5, "E0 01 8E", Disconnect{ReasonCode::kSessionTakenOver, {}}});
  cases.push_back(
      {"disconnect_v5_properties", PV::kV5, "E0 07 00 05 11 00 00 00 00",
       Disconnect{ReasonCode::kSuccess, {prop(PropertyId::kSessionExpiryInterval, 0)}}});
  cases.push_back({"auth_v5_short", PV::kV5, "F0 00", Auth{}});
  cases.push_back({"auth_v5", PV::kV5, "F0 06 18 04 15 00 01 6D",
                   Auth{ReasonCode::kContinueAuthentication,
                        {prop(PropertyId::kAuthenticationMethod, std::string("m"))}}});
  return cases;
}

TEST(MqttCodecTest, DecodesHandWrittenBytes) {
  for (const WireCase& c : wireCases()) {
    SCOPED_TRACE(c.name);
    DecodeResult result = decodeOne(hex(c.bytes), c.version);
    const auto* packet = std::get_if<Packet>(&result);
    ASSERT_NE(packet, nullptr) << (std::holds_alternative<DecodeError>(result)
                                       ? std::get<DecodeError>(result).detail
                                       : "need more");
    EXPECT_EQ(*packet, c.packet);
  }
}

TEST(MqttCodecTest, EncodesToHandWrittenBytes) {
  for (const WireCase& c : wireCases()) {
    SCOPED_TRACE(c.name);
    auto bytes = encode(c.packet, c.version);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ(*bytes, hex(c.bytes));
  }
}

TEST(MqttCodecTest, LearnsVersionFromConnectAndRoundTripsEveryCase) {
  for (const WireCase& c : wireCases()) {
    SCOPED_TRACE(c.name);
    Connect connect;
    connect.version = c.version;
    connect.client_id = "x";
    std::string stream = *encode(connect, c.version) + *encode(c.packet, c.version);
    Decoder decoder;
    decoder.feed(stream);
    DecodeResult first = decoder.next();
    ASSERT_TRUE(std::holds_alternative<Packet>(first));
    EXPECT_EQ(decoder.version(), c.version);
    DecodeResult second = decoder.next();
    ASSERT_TRUE(std::holds_alternative<Packet>(second));
    EXPECT_EQ(std::get<Packet>(second), c.packet);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(decoder.next()));
  }
}

TEST(MqttCodecTest, ByteAtATimeGivesSamePackets) {
  std::vector<WireCase> cases = wireCases();
  for (ProtocolVersion version : {ProtocolVersion::kV311, ProtocolVersion::kV5}) {
    std::string stream;
    std::vector<Packet> expected;
    for (const WireCase& c : cases) {
      if (c.version != version || std::holds_alternative<Connect>(c.packet)) continue;
      stream += hex(c.bytes);
      expected.push_back(c.packet);
    }
    DecoderOptions options;
    options.version = version;
    Decoder decoder(options);
    std::vector<Packet> got;
    for (char byte : stream) {
      decoder.feed(std::string_view(&byte, 1));
      while (true) {
        DecodeResult r = decoder.next();
        ASSERT_FALSE(std::holds_alternative<DecodeError>(r));
        if (std::holds_alternative<std::monostate>(r)) break;
        got.push_back(std::get<Packet>(std::move(r)));
      }
    }
    EXPECT_EQ(got, expected);
    EXPECT_EQ(decoder.buffered(), 0u);
  }
}

TEST(MqttCodecTest, LargePacketUsesMultiByteRemainingLength) {
  Publish publish{"t", std::string(200, 'x'), Qos::kAtMostOnce, false, false, 0, {}};
  auto bytes = encode(publish, ProtocolVersion::kV311);
  ASSERT_TRUE(bytes.has_value());
  // 203 = 0xCB -> varint CB 01 (MQTT §2.2.3).
  EXPECT_EQ(bytes->substr(0, 3), hex("30 CB 01"));
  auto back = decodeOne(*bytes, ProtocolVersion::kV311);
  ASSERT_TRUE(std::holds_alternative<Packet>(back));
  EXPECT_EQ(std::get<Packet>(back), Packet(publish));
}

struct BadCase {
  const char* name;
  std::optional<ProtocolVersion> version;
  const char* bytes;
  ReasonCode reason;
};

TEST(MqttCodecTest, RefusesMalformedPackets) {
  using PV = ProtocolVersion;
  const BadCase cases[] = {
      {"truncated_topic", PV::kV311, "30 02 00 05", ReasonCode::kMalformedPacket},
      {"truncated_packet_id", PV::kV311, "32 03 00 01 61", ReasonCode::kMalformedPacket},
      {"five_byte_varint", PV::kV311, "30 FF FF FF FF", ReasonCode::kMalformedPacket},
      {"non_minimal_varint", PV::kV311, "30 80 00", ReasonCode::kMalformedPacket},
      {"too_large", PV::kV311, "30 FF FF FF 7F", ReasonCode::kPacketTooLarge},
      {"reserved_type", PV::kV311, "00 00", ReasonCode::kMalformedPacket},
      {"puback_flags", PV::kV311, "41 02 00 01", ReasonCode::kMalformedPacket},
      {"subscribe_flags", PV::kV311, "80 06 00 01 00 01 61 00", ReasonCode::kMalformedPacket},
      {"pingreq_flags", PV::kV311, "C8 00", ReasonCode::kMalformedPacket},
      {"pingreq_body", PV::kV311, "C0 01 00", ReasonCode::kMalformedPacket},
      {"publish_qos3", PV::kV311, "36 05 00 01 61 00 01", ReasonCode::kMalformedPacket},
      {"publish_dup_qos0", PV::kV311, "38 03 00 01 61", ReasonCode::kMalformedPacket},
      {"publish_wildcard_plus", PV::kV311, "30 05 00 03 61 2F 2B", ReasonCode::kTopicNameInvalid},
      {"publish_wildcard_hash", PV::kV5, "30 04 00 01 23 00", ReasonCode::kTopicNameInvalid},
      {"publish_bad_utf8", PV::kV311, "30 04 00 02 C0 80", ReasonCode::kMalformedPacket},
      {"publish_nul", PV::kV311, "30 05 00 03 61 00 62", ReasonCode::kMalformedPacket},
      {"publish_empty_topic_v311", PV::kV311, "30 02 00 00", ReasonCode::kTopicNameInvalid},
      {"publish_empty_topic_v5", PV::kV5, "30 03 00 00 00", ReasonCode::kProtocolError},
      {"publish_packet_id_zero", PV::kV311, "32 05 00 01 61 00 00", ReasonCode::kProtocolError},
      {"publish_bad_utf8_payload", PV::kV5, "30 07 00 01 61 02 01 01 FF",
       ReasonCode::kPayloadFormatInvalid},
      {"publish_topic_alias_zero", PV::kV5, "30 07 00 01 61 03 23 00 00",
       ReasonCode::kProtocolError},
      {"publish_duplicate_property", PV::kV5, "30 0D 00 01 61 09 02 00 00 00 01 02 00 00 00 02",
       ReasonCode::kProtocolError},
      {"publish_property_not_allowed", PV::kV5, "30 06 00 01 61 02 24 01",
       ReasonCode::kMalformedPacket},
      {"publish_unknown_property", PV::kV5, "30 06 00 01 61 02 7F 01",
       ReasonCode::kMalformedPacket},
      {"publish_property_length_overflow", PV::kV5, "30 05 00 01 61 09 01",
       ReasonCode::kMalformedPacket},
      {"puback_trailing", PV::kV311, "40 03 00 01 00", ReasonCode::kMalformedPacket},
      {"puback_id_zero", PV::kV311, "40 02 00 00", ReasonCode::kProtocolError},
      {"subscribe_empty", PV::kV311, "82 02 00 01", ReasonCode::kProtocolError},
      {"subscribe_reserved_v311", PV::kV311, "82 06 00 01 00 01 61 04",
       ReasonCode::kMalformedPacket},
      {"subscribe_reserved_v5", PV::kV5, "82 07 00 01 00 00 01 61 40",
       ReasonCode::kMalformedPacket},
      {"subscribe_qos3", PV::kV311, "82 06 00 01 00 01 61 03", ReasonCode::kMalformedPacket},
      {"subscribe_retain_handling3", PV::kV5, "82 07 00 01 00 00 01 61 30",
       ReasonCode::kMalformedPacket},
      {"subscribe_two_sub_ids", PV::kV5, "82 0A 00 01 04 0B 01 0B 02 00 01 61 00",
       ReasonCode::kProtocolError},
      {"unsubscribe_empty", PV::kV311, "A2 02 00 01", ReasonCode::kProtocolError},
      {"suback_bad_code_v311", PV::kV311, "90 03 00 01 03", ReasonCode::kMalformedPacket},
      {"connack_reserved", PV::kV311, "20 02 02 00", ReasonCode::kMalformedPacket},
      {"auth_in_v311", PV::kV311, "F0 00", ReasonCode::kMalformedPacket},
      {"disconnect_body_v311", PV::kV311, "E0 01 00", ReasonCode::kMalformedPacket},
      {"first_not_connect", std::nullopt, "C0 00", ReasonCode::kProtocolError},
      {"connect_mqisdp", std::nullopt, "10 0F 00 06 4D 51 49 73 64 70 03 02 00 3C 00 01 63",
       ReasonCode::kUnsupportedProtocolVersion},
      {"connect_level6", std::nullopt, "10 0D 00 04 4D 51 54 54 06 02 00 3C 00 01 63",
       ReasonCode::kUnsupportedProtocolVersion},
      {"connect_reserved_flag", std::nullopt, "10 0D 00 04 4D 51 54 54 04 03 00 3C 00 01 63",
       ReasonCode::kMalformedPacket},
      {"connect_will_qos3", std::nullopt,
       "10 12 00 04 4D 51 54 54 04 1C 00 00 00 01 63 00 01 77 00 00", ReasonCode::kMalformedPacket},
      {"connect_will_qos_without_will", std::nullopt,
       "10 0D 00 04 4D 51 54 54 04 0A 00 3C 00 01 63", ReasonCode::kMalformedPacket},
      {"connect_password_without_user_v311", std::nullopt,
       "10 10 00 04 4D 51 54 54 04 42 00 3C 00 01 63 00 01 70", ReasonCode::kMalformedPacket},
      {"connect_will_wildcard", std::nullopt,
       "10 12 00 04 4D 51 54 54 04 06 00 00 00 01 63 00 01 23 00 00",
       ReasonCode::kTopicNameInvalid},
      {"connect_flags_on_header", std::nullopt, "12 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 63",
       ReasonCode::kMalformedPacket},
      {"connect_topic_alias_property", std::nullopt,
       "10 11 00 04 4D 51 54 54 05 02 00 3C 03 23 00 01 00 01 63", ReasonCode::kMalformedPacket},
      {"connect_receive_max_zero", std::nullopt,
       "10 11 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 01 63", ReasonCode::kProtocolError},
      {"connect_bad_client_id", std::nullopt, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 FF",
       ReasonCode::kMalformedPacket},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(errorOf(decodeOne(hex(c.bytes), c.version)), c.reason);
  }
}

TEST(MqttCodecTest, RefusesOversizedPacketFromHeaderAlone) {
  DecoderOptions options;
  options.version = ProtocolVersion::kV311;
  options.max_packet_size = 100;
  Decoder decoder(options);
  decoder.feed(hex("30 63"));  // 2 + 99 > 100, and not one byte of the body has arrived
  EXPECT_EQ(errorOf(decoder.next()), ReasonCode::kPacketTooLarge);
  Decoder fits(options);
  fits.feed(hex("30 62"));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(fits.next()));
}

TEST(MqttCodecTest, FifthVarintByteNotNeededToRefuse) {
  Decoder decoder(DecoderOptions{kMaxRemainingLength, kMaxRemainingLength, ProtocolVersion::kV5});
  decoder.feed(hex("30 FF FF FF"));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(decoder.next()));
  decoder.feed(hex("FF"));
  EXPECT_EQ(errorOf(decoder.next()), ReasonCode::kMalformedPacket);
}

TEST(MqttCodecTest, RefusesPayloadOverLimit) {
  DecoderOptions options;
  options.version = ProtocolVersion::kV311;
  options.max_payload_size = 2;
  EXPECT_TRUE(std::holds_alternative<Packet>(
      decodeOne(hex("30 05 00 01 61 68 69"), options.version, options)));
  EXPECT_EQ(errorOf(decodeOne(hex("30 06 00 01 61 68 69 21"), options.version, options)),
            ReasonCode::kPacketTooLarge);
}

TEST(MqttCodecTest, ErrorIsSticky) {
  DecoderOptions options;
  options.version = ProtocolVersion::kV311;
  Decoder decoder(options);
  decoder.feed(hex("41 02 00 01 C0 00"));
  EXPECT_EQ(errorOf(decoder.next()), ReasonCode::kMalformedPacket);
  decoder.feed(hex("C0 00"));
  EXPECT_EQ(errorOf(decoder.next()), ReasonCode::kMalformedPacket);
}

TEST(MqttCodecTest, EncodeRefusesWhatTheVersionCannotCarry) {
  EXPECT_FALSE(encode(Auth{}, ProtocolVersion::kV311).has_value());
  EXPECT_FALSE(encode(Connack{false, ReasonCode::kBanned, {}}, ProtocolVersion::kV311).has_value());
  Publish too_long{std::string(70000, 'a'), "", Qos::kAtMostOnce, false, false, 0, {}};
  std::string out = "keep";
  EXPECT_FALSE(encodeTo(too_long, ProtocolVersion::kV311, out));
  EXPECT_EQ(out, "keep");
}

TEST(MqttCodecTest, EncodeToAppends) {
  std::string out = hex("C0 00");
  ASSERT_TRUE(encodeTo(Pingresp{}, ProtocolVersion::kV311, out));
  EXPECT_EQ(out, hex("C0 00 D0 00"));
}

TEST(MqttCodecTest, FindProperty) {
  Properties properties = {userProp("a", "b"), prop(PropertyId::kTopicAlias, 3)};
  ASSERT_NE(findProperty(properties, PropertyId::kTopicAlias), nullptr);
  EXPECT_EQ(findProperty(properties, PropertyId::kTopicAlias)->integer, 3u);
  EXPECT_EQ(findProperty(properties, PropertyId::kContentType), nullptr);
}

}  // namespace
}  // namespace fleetgate::mqtt
