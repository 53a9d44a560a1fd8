#include "mqtt/codec.h"

#include <algorithm>
#include <array>
#include <utility>

#include "common/encoding.h"

namespace fleetgate::mqtt {

const Property* findProperty(const Properties& properties, PropertyId id) {
  for (const Property& property : properties) {
    if (property.id == id) return &property;
  }
  return nullptr;
}

PacketType packetType(const Packet& packet) {
  struct Visitor {
    PacketType operator()(const Connect&) const { return PacketType::kConnect; }
    PacketType operator()(const Connack&) const { return PacketType::kConnack; }
    PacketType operator()(const Publish&) const { return PacketType::kPublish; }
    PacketType operator()(const PublishResponse& p) const { return p.type; }
    PacketType operator()(const Subscribe&) const { return PacketType::kSubscribe; }
    PacketType operator()(const Suback&) const { return PacketType::kSuback; }
    PacketType operator()(const Unsubscribe&) const { return PacketType::kUnsubscribe; }
    PacketType operator()(const Unsuback&) const { return PacketType::kUnsuback; }
    PacketType operator()(const Pingreq&) const { return PacketType::kPingreq; }
    PacketType operator()(const Pingresp&) const { return PacketType::kPingresp; }
    PacketType operator()(const Disconnect&) const { return PacketType::kDisconnect; }
    PacketType operator()(const Auth&) const { return PacketType::kAuth; }
  };
  return std::visit(Visitor{}, packet);
}

namespace {

enum class WireType : std::uint8_t {
  kNone,
  kByte,
  kTwoByte,
  kFourByte,
  kVarint,
  kUtf8,
  kBinary,
  kPair
};

// Where a property may appear: bit n for packet type n; bit 0 (type 0 is reserved) stands for
// the will properties inside CONNECT.
constexpr std::uint32_t bit(PacketType type) { return 1u << static_cast<unsigned>(type); }
constexpr std::uint32_t kWill = 1u;
constexpr std::uint32_t kAllPackets = 0xfffeu | kWill;

struct PropertyRule {
  WireType type = WireType::kNone;
  std::uint32_t allowed = 0;
  bool boolean = false;   // a byte that must be 0 or 1
  bool non_zero = false;  // zero is a protocol error
};

constexpr std::array<PropertyRule, 0x2b> makeRules() {
  std::array<PropertyRule, 0x2b> r{};
  const std::uint32_t pub_will = bit(PacketType::kPublish) | kWill;
  const std::uint32_t acks = bit(PacketType::kPuback) | bit(PacketType::kPubrec) |
                             bit(PacketType::kPubrel) | bit(PacketType::kPubcomp);
  r[0x01] = {WireType::kByte, pub_will, true, false};
  r[0x02] = {WireType::kFourByte, pub_will, false, false};
  r[0x03] = {WireType::kUtf8, pub_will, false, false};
  r[0x08] = {WireType::kUtf8, pub_will, false, false};
  r[0x09] = {WireType::kBinary, pub_will, false, false};
  r[0x0B] = {WireType::kVarint, bit(PacketType::kPublish) | bit(PacketType::kSubscribe), false,
             true};
  r[0x11] = {WireType::kFourByte,
             bit(PacketType::kConnect) | bit(PacketType::kConnack) | bit(PacketType::kDisconnect),
             false, false};
  r[0x12] = {WireType::kUtf8, bit(PacketType::kConnack), false, false};
  r[0x13] = {WireType::kTwoByte, bit(PacketType::kConnack), false, false};
  const std::uint32_t auth_packets =
      bit(PacketType::kConnect) | bit(PacketType::kConnack) | bit(PacketType::kAuth);
  r[0x15] = {WireType::kUtf8, auth_packets, false, false};
  r[0x16] = {WireType::kBinary, auth_packets, false, false};
  r[0x17] = {WireType::kByte, bit(PacketType::kConnect), true, false};
  r[0x18] = {WireType::kFourByte, kWill, false, false};
  r[0x19] = {WireType::kByte, bit(PacketType::kConnect), true, false};
  r[0x1A] = {WireType::kUtf8, bit(PacketType::kConnack), false, false};
  r[0x1C] = {WireType::kUtf8, bit(PacketType::kConnack) | bit(PacketType::kDisconnect), false,
             false};
  r[0x1F] = {WireType::kUtf8,
             bit(PacketType::kConnack) | acks | bit(PacketType::kSuback) |
                 bit(PacketType::kUnsuback) | bit(PacketType::kDisconnect) | bit(PacketType::kAuth),
             false, false};
  const std::uint32_t connect_connack = bit(PacketType::kConnect) | bit(PacketType::kConnack);
  r[0x21] = {WireType::kTwoByte, connect_connack, false, true};
  r[0x22] = {WireType::kTwoByte, connect_connack, false, false};
  r[0x23] = {WireType::kTwoByte, bit(PacketType::kPublish), false, true};
  r[0x24] = {WireType::kByte, bit(PacketType::kConnack), true, false};
  r[0x25] = {WireType::kByte, bit(PacketType::kConnack), true, false};
  r[0x26] = {WireType::kPair, kAllPackets, false, false};
  r[0x27] = {WireType::kFourByte, connect_connack, false, true};
  r[0x28] = {WireType::kByte, bit(PacketType::kConnack), true, false};
  r[0x29] = {WireType::kByte, bit(PacketType::kConnack), true, false};
  r[0x2A] = {WireType::kByte, bit(PacketType::kConnack), true, false};
  return r;
}
constexpr std::array<PropertyRule, 0x2b> kRules = makeRules();

const PropertyRule* ruleFor(std::uint32_t id) {
  if (id >= kRules.size() || kRules[id].type == WireType::kNone) return nullptr;
  return &kRules[id];
}

bool isMqttUtf8(std::string_view text) {
  // MQTT §1.5.4 forbids U+0000 on top of well-formed UTF-8.
  return text.find('\0') == std::string_view::npos && isValidUtf8(text);
}

bool hasWildcard(std::string_view topic) {
  return topic.find_first_of("+#") != std::string_view::npos;
}

// Reads with a sticky error: after the first failure every read returns a default value, so the
// packet decoders read straight through and check failed() where a value steers control flow.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool failed() const { return error_.has_value(); }
  bool atEnd() const { return pos_ == data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }
  void fail(ReasonCode reason, std::string detail) {
    if (!error_) error_ = DecodeError{reason, std::move(detail)};
  }
  std::optional<DecodeError>& error() { return error_; }

  std::uint8_t byte() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  std::uint16_t u16() {
    if (!need(2)) return 0;
    auto hi = static_cast<std::uint8_t>(data_[pos_]);
    auto lo = static_cast<std::uint8_t>(data_[pos_ + 1]);
    pos_ += 2;
    return static_cast<std::uint16_t>(hi << 8 | lo);
  }
  std::uint32_t u32() {
    std::uint32_t hi = u16();
    return hi << 16 | u16();
  }
  std::uint32_t varint() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      std::uint8_t b = byte();
      if (failed()) return 0;
      if (i > 0 && b == 0) {
        fail(ReasonCode::kMalformedPacket, "non-minimal variable byte integer");
        return 0;
      }
      value |= static_cast<std::uint32_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return value;
    }
    fail(ReasonCode::kMalformedPacket, "variable byte integer longer than 4 bytes");
    return 0;
  }
  std::string_view bytes(std::size_t n) {
    if (!need(n)) return {};
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  std::string binary() { return std::string(bytes(u16())); }
  std::string utf8() {
    std::string_view text = bytes(u16());
    if (!failed() && !isMqttUtf8(text)) fail(ReasonCode::kMalformedPacket, "invalid UTF-8 string");
    return std::string(text);
  }
  std::string_view rest() { return bytes(remaining()); }

 private:
  bool need(std::size_t n) {
    if (failed()) return false;
    if (remaining() < n) {
      fail(ReasonCode::kMalformedPacket, "truncated packet");
      return false;
    }
    return true;
  }

  std::string_view data_;
  std::size_t pos_ = 0;
  std::optional<DecodeError> error_;
};

Properties readProperties(Reader& in, std::uint32_t where) {
  Properties out;
  std::uint32_t length = in.varint();
  if (in.failed()) return out;
  if (length > in.remaining()) {
    in.fail(ReasonCode::kMalformedPacket, "property length exceeds packet");
    return out;
  }
  Reader props(in.bytes(length));
  std::uint64_t seen = 0;
  while (!props.atEnd() && !props.failed()) {
    std::uint32_t id = props.varint();
    const PropertyRule* rule = ruleFor(id);
    if (props.failed()) break;
    if (rule == nullptr || (rule->allowed & where) == 0) {
      props.fail(ReasonCode::kMalformedPacket, "property not valid for this packet");
      break;
    }
    // Only user properties, and subscription identifiers in PUBLISH (where the server may list
    // several), may repeat (MQTT 5 §2.2.2.2, §3.3.2.3.8).
    bool repeatable = id == 0x26 || (id == 0x0B && where == bit(PacketType::kPublish));
    if (!repeatable && (seen & (std::uint64_t{1} << id)) != 0) {
      props.fail(ReasonCode::kProtocolError, "duplicate property");
      break;
    }
    seen |= std::uint64_t{1} << id;
    Property p;
    p.id = static_cast<PropertyId>(id);
    switch (rule->type) {
      case WireType::kByte:
        p.integer = props.byte();
        break;
      case WireType::kTwoByte:
        p.integer = props.u16();
        break;
      case WireType::kFourByte:
        p.integer = props.u32();
        break;
      case WireType::kVarint:
        p.integer = props.varint();
        break;
      case WireType::kUtf8:
        p.value = props.utf8();
        break;
      case WireType::kBinary:
        p.value = props.binary();
        break;
      case WireType::kPair:
        p.name = props.utf8();
        p.value = props.utf8();
        break;
      case WireType::kNone:
        break;
    }
    if (props.failed()) break;
    if ((rule->boolean && p.integer > 1) || (rule->non_zero && p.integer == 0)) {
      props.fail(ReasonCode::kProtocolError, "property value out of range");
      break;
    }
    out.push_back(std::move(p));
  }
  if (props.failed()) in.error() = props.error();
  return out;
}

DecodeError malformed(std::string detail) {
  return DecodeError{ReasonCode::kMalformedPacket, std::move(detail)};
}

DecodeResult finish(Reader& in, Packet packet) {
  if (!in.failed() && !in.atEnd()) in.fail(ReasonCode::kMalformedPacket, "trailing bytes");
  if (in.failed()) return std::move(*in.error());
  return packet;
}

std::uint16_t packetId(Reader& in) {
  std::uint16_t id = in.u16();
  if (!in.failed() && id == 0) in.fail(ReasonCode::kProtocolError, "packet identifier 0");
  return id;
}

DecodeResult decodeConnect(Reader& in) {
  Connect c;
  std::string name = in.utf8();
  std::uint8_t level = in.byte();
  if (in.failed()) return std::move(*in.error());
  if (name != "MQTT" || (level != 4 && level != 5)) {
    return DecodeError{ReasonCode::kUnsupportedProtocolVersion, "unsupported protocol"};
  }
  c.version = static_cast<ProtocolVersion>(level);
  const bool v5 = c.version == ProtocolVersion::kV5;
  std::uint8_t flags = in.byte();
  c.keep_alive = in.u16();
  if (in.failed()) return std::move(*in.error());
  if ((flags & 0x01) != 0) return malformed("CONNECT reserved flag set");
  c.clean_start = (flags & 0x02) != 0;
  const bool will = (flags & 0x04) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  const bool will_retain = (flags & 0x20) != 0;
  const bool password = (flags & 0x40) != 0;
  const bool username = (flags & 0x80) != 0;
  if (will_qos == 3) return malformed("will QoS 3");
  if (!will && (will_qos != 0 || will_retain)) return malformed("will QoS/retain without will");
  if (!v5 && password && !username) return malformed("password without user name");
  if (v5) c.properties = readProperties(in, bit(PacketType::kConnect));
  c.client_id = in.utf8();
  if (will) {
    Will w;
    w.qos = static_cast<Qos>(will_qos);
    w.retain = will_retain;
    if (v5) w.properties = readProperties(in, kWill);
    w.topic = in.utf8();
    w.payload = in.binary();
    if (!in.failed() && (w.topic.empty() || hasWildcard(w.topic))) {
      in.fail(ReasonCode::kTopicNameInvalid, "invalid will topic");
    }
    c.will = std::move(w);
  }
  if (username) c.username = in.utf8();
  if (password) c.password = in.binary();
  return finish(in, std::move(c));
}

ReasonCode connackFromV311(std::uint8_t code, bool& ok) {
  static constexpr std::array<ReasonCode, 6> kMap = {ReasonCode::kSuccess,
                                                     ReasonCode::kUnsupportedProtocolVersion,
                                                     ReasonCode::kClientIdentifierNotValid,
                                                     ReasonCode::kServerUnavailable,
                                                     ReasonCode::kBadUserNameOrPassword,
                                                     ReasonCode::kNotAuthorized};
  ok = code < kMap.size();
  return ok ? kMap[code] : ReasonCode::kUnspecifiedError;
}

std::optional<std::uint8_t> connackToV311(ReasonCode reason) {
  switch (reason) {
    case ReasonCode::kSuccess:
      return 0;
    case ReasonCode::kUnsupportedProtocolVersion:
      return 1;
    case ReasonCode::kClientIdentifierNotValid:
      return 2;
    case ReasonCode::kServerUnavailable:
      return 3;
    case ReasonCode::kBadUserNameOrPassword:
      return 4;
    case ReasonCode::kNotAuthorized:
      return 5;
    default:
      return std::nullopt;
  }
}

DecodeResult decodeConnack(Reader& in, bool v5) {
  Connack c;
  std::uint8_t ack_flags = in.byte();
  std::uint8_t code = in.byte();
  if (in.failed()) return std::move(*in.error());
  if ((ack_flags & 0xfe) != 0) return malformed("CONNACK reserved flags set");
  c.session_present = (ack_flags & 0x01) != 0;
  if (v5) {
    c.reason = static_cast<ReasonCode>(code);
    c.properties = readProperties(in, bit(PacketType::kConnack));
  } else {
    bool known = false;
    c.reason = connackFromV311(code, known);
    if (!known) return malformed("unknown CONNACK return code");
  }
  return finish(in, std::move(c));
}

DecodeResult decodePublish(Reader& in, std::uint8_t flags, bool v5, const DecoderOptions& options) {
  Publish p;
  p.retain = (flags & 0x01) != 0;
  p.dup = (flags & 0x08) != 0;
  const auto qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  if (qos == 3) return malformed("PUBLISH QoS 3");
  if (qos == 0 && p.dup) return malformed("DUP set on QoS 0 PUBLISH");
  p.qos = static_cast<Qos>(qos);
  p.topic = in.utf8();
  if (qos > 0) p.packet_id = packetId(in);
  if (v5) p.properties = readProperties(in, bit(PacketType::kPublish));
  p.payload = std::string(in.rest());
  if (in.failed()) return std::move(*in.error());
  // MQTT-3.3.2-2: no wildcards in a topic name. An empty name is only a v5 topic alias use.
  if (hasWildcard(p.topic)) return DecodeError{ReasonCode::kTopicNameInvalid, "wildcard in topic"};
  if (p.topic.empty() && findProperty(p.properties, PropertyId::kTopicAlias) == nullptr) {
    return DecodeError{v5 ? ReasonCode::kProtocolError : ReasonCode::kTopicNameInvalid,
                       "empty topic name"};
  }
  if (p.payload.size() > options.max_payload_size) {
    return DecodeError{ReasonCode::kPacketTooLarge, "payload too large"};
  }
  const Property* format = findProperty(p.properties, PropertyId::kPayloadFormatIndicator);
  if (format != nullptr && format->integer == 1 && !isValidUtf8(p.payload)) {
    return DecodeError{ReasonCode::kPayloadFormatInvalid, "payload is not UTF-8"};
  }
  return p;
}

DecodeResult decodePublishResponse(Reader& in, PacketType type, bool v5) {
  PublishResponse r;
  r.type = type;
  r.packet_id = packetId(in);
  // v5 §3.4.2.1: the reason code may be omitted for Success, the properties when empty.
  if (v5 && !in.atEnd()) {
    r.reason = static_cast<ReasonCode>(in.byte());
    if (!in.atEnd()) r.properties = readProperties(in, bit(type));
  }
  return finish(in, std::move(r));
}

DecodeResult decodeSubscribe(Reader& in, bool v5) {
  Subscribe s;
  s.packet_id = packetId(in);
  if (v5) s.properties = readProperties(in, bit(PacketType::kSubscribe));
  while (!in.failed() && !in.atEnd()) {
    Subscription sub;
    sub.filter = in.utf8();
    std::uint8_t options = in.byte();
    if (in.failed()) break;
    if ((options & (v5 ? 0xc0 : 0xfc)) != 0) return malformed("subscription options reserved bits");
    if ((options & 0x03) == 3) return malformed("subscription QoS 3");
    if (((options >> 4) & 0x03) == 3) return malformed("retain handling 3");
    sub.options.qos = static_cast<Qos>(options & 0x03);
    sub.options.no_local = (options & 0x04) != 0;
    sub.options.retain_as_published = (options & 0x08) != 0;
    sub.options.retain_handling = static_cast<RetainHandling>((options >> 4) & 0x03);
    s.subscriptions.push_back(std::move(sub));
  }
  if (!in.failed() && s.subscriptions.empty()) {
    in.fail(ReasonCode::kProtocolError, "SUBSCRIBE without subscriptions");
  }
  return finish(in, std::move(s));
}

DecodeResult decodeSuback(Reader& in, bool v5) {
  Suback s;
  s.packet_id = packetId(in);
  if (v5) s.properties = readProperties(in, bit(PacketType::kSuback));
  while (!in.failed() && !in.atEnd()) {
    std::uint8_t code = in.byte();
    if (!v5 && code > 2 && code != 0x80) return malformed("unknown SUBACK return code");
    s.reasons.push_back(static_cast<ReasonCode>(code));
  }
  if (!in.failed() && s.reasons.empty()) in.fail(ReasonCode::kProtocolError, "empty SUBACK");
  return finish(in, std::move(s));
}

DecodeResult decodeUnsubscribe(Reader& in, bool v5) {
  Unsubscribe u;
  u.packet_id = packetId(in);
  if (v5) u.properties = readProperties(in, bit(PacketType::kUnsubscribe));
  while (!in.failed() && !in.atEnd()) u.filters.push_back(in.utf8());
  if (!in.failed() && u.filters.empty()) {
    in.fail(ReasonCode::kProtocolError, "UNSUBSCRIBE without filters");
  }
  return finish(in, std::move(u));
}

DecodeResult decodeUnsuback(Reader& in, bool v5) {
  Unsuback u;
  u.packet_id = packetId(in);
  if (v5) {
    u.properties = readProperties(in, bit(PacketType::kUnsuback));
    while (!in.failed() && !in.atEnd()) u.reasons.push_back(static_cast<ReasonCode>(in.byte()));
  }
  return finish(in, std::move(u));
}

// DISCONNECT and AUTH: both omit reason and properties when they are Success and empty.
template <typename T>
DecodeResult decodeReasonOnly(Reader& in, PacketType type, bool v5) {
  T t;
  if (v5 && !in.atEnd()) {
    t.reason = static_cast<ReasonCode>(in.byte());
    if (!in.atEnd()) t.properties = readProperties(in, bit(type));
  }
  return finish(in, std::move(t));
}

}  // namespace

DecodeResult decodePacket(std::uint8_t first_byte, std::string_view body, ProtocolVersion version,
                          const DecoderOptions& options) {
  const auto type = static_cast<PacketType>(first_byte >> 4);
  const auto flags = static_cast<std::uint8_t>(first_byte & 0x0f);
  const bool v5 = version == ProtocolVersion::kV5;
  // MQTT §2.1.3: fixed flags per type; PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0b0010.
  std::uint8_t required_flags = 0;
  switch (type) {
    case PacketType::kPublish:
      break;
    case PacketType::kPubrel:
    case PacketType::kSubscribe:
    case PacketType::kUnsubscribe:
      required_flags = 0x02;
      [[fallthrough]];
    default:
      if (flags != required_flags) return malformed("reserved fixed-header flags");
  }
  Reader in(body);
  switch (type) {
    case PacketType::kConnect:
      return decodeConnect(in);
    case PacketType::kConnack:
      return decodeConnack(in, v5);
    case PacketType::kPublish:
      return decodePublish(in, flags, v5, options);
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp:
      return decodePublishResponse(in, type, v5);
    case PacketType::kSubscribe:
      return decodeSubscribe(in, v5);
    case PacketType::kSuback:
      return decodeSuback(in, v5);
    case PacketType::kUnsubscribe:
      return decodeUnsubscribe(in, v5);
    case PacketType::kUnsuback:
      return decodeUnsuback(in, v5);
    case PacketType::kPingreq:
      return finish(in, Pingreq{});
    case PacketType::kPingresp:
      return finish(in, Pingresp{});
    case PacketType::kDisconnect:
      return decodeReasonOnly<Disconnect>(in, type, v5);
    case PacketType::kAuth:
      if (!v5) return malformed("AUTH in MQTT 3.1.1");
      return decodeReasonOnly<Auth>(in, type, v5);
  }
  return malformed("reserved packet type 0");
}

Decoder::Decoder(DecoderOptions options) : options_(options), version_(options.version) {}

void Decoder::feed(std::string_view bytes) {
  if (!failed_) buffer_.append(bytes);
}

void Decoder::feed(std::span<const std::uint8_t> bytes) {
  feed(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void Decoder::releaseMemory() {
  if (buffered() != 0) return;
  std::string().swap(buffer_);
  start_ = 0;
}

DecodeResult Decoder::next() {
  if (failed_) return *failed_;
  const std::string_view data = std::string_view(buffer_).substr(start_);
  if (data.empty()) return std::monostate{};
  const auto first = static_cast<std::uint8_t>(data[0]);
  if ((first >> 4) == 0) {
    failed_ = malformed("reserved packet type 0");
    return *failed_;
  }
  std::uint32_t remaining = 0;
  std::size_t header = 0;
  for (std::size_t i = 0;; ++i) {
    if (i == 4) {
      failed_ = malformed("remaining length longer than 4 bytes");
      return *failed_;
    }
    if (1 + i >= data.size()) return std::monostate{};
    const auto b = static_cast<std::uint8_t>(data[1 + i]);
    if (i > 0 && b == 0) {
      failed_ = malformed("non-minimal remaining length");
      return *failed_;
    }
    remaining |= static_cast<std::uint32_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      header = 2 + i;
      break;
    }
  }
  const std::uint64_t total = std::uint64_t{header} + remaining;
  if (total > options_.max_packet_size) {
    failed_ = DecodeError{ReasonCode::kPacketTooLarge, "packet exceeds maximum size"};
    return *failed_;
  }
  if (data.size() < total) return std::monostate{};
  const auto type = static_cast<PacketType>(first >> 4);
  if (!version_ && type != PacketType::kConnect) {
    failed_ = DecodeError{ReasonCode::kProtocolError, "first packet is not CONNECT"};
    return *failed_;
  }
  DecodeResult result = decodePacket(first, data.substr(header, remaining),
                                     version_.value_or(ProtocolVersion::kV5), options_);
  start_ += static_cast<std::size_t>(total);
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ >= 4096 && start_ * 2 >= buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  if (auto* error = std::get_if<DecodeError>(&result)) {
    failed_ = *error;
  } else if (auto* packet = std::get_if<Packet>(&result)) {
    if (!version_) version_ = std::get<Connect>(*packet).version;
  }
  return result;
}

namespace {

// Appends with a sticky failure, mirroring Reader.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }

  void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void u16(std::uint16_t v) {
    byte(static_cast<std::uint8_t>(v >> 8));
    byte(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void varint(std::uint32_t v) {
    if (v > kMaxRemainingLength) {
      fail();
      return;
    }
    do {
      auto b = static_cast<std::uint8_t>(v & 0x7f);
      v >>= 7;
      if (v != 0) b |= 0x80;
      byte(b);
    } while (v != 0);
  }
  void raw(std::string_view s) { out_.append(s); }
  void string(std::string_view s) {
    if (s.size() > 0xffff) {
      fail();
      return;
    }
    u16(static_cast<std::uint16_t>(s.size()));
    raw(s);
  }

 private:
  std::string& out_;
  bool ok_ = true;
};

std::size_t varintSize(std::uint32_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void writeProperties(Writer& w, const Properties& properties) {
  std::size_t size = 0;
  for (const Property& p : properties) {
    const PropertyRule* rule = ruleFor(static_cast<std::uint32_t>(p.id));
    if (rule == nullptr) {
      w.fail();
      return;
    }
    size += 1;
    switch (rule->type) {
      case WireType::kByte:
        size += 1;
        break;
      case WireType::kTwoByte:
        size += 2;
        break;
      case WireType::kFourByte:
        size += 4;
        break;
      case WireType::kVarint:
        size += varintSize(p.integer);
        break;
      case WireType::kUtf8:
      case WireType::kBinary:
        size += 2 + p.value.size();
        break;
      case WireType::kPair:
        size += 4 + p.name.size() + p.value.size();
        break;
      case WireType::kNone:
        break;
    }
  }
  if (size > kMaxRemainingLength) {
    w.fail();
    return;
  }
  w.varint(static_cast<std::uint32_t>(size));
  for (const Property& p : properties) {
    w.byte(static_cast<std::uint8_t>(p.id));
    switch (ruleFor(static_cast<std::uint32_t>(p.id))->type) {
      case WireType::kByte:
        w.byte(static_cast<std::uint8_t>(p.integer));
        break;
      case WireType::kTwoByte:
        w.u16(static_cast<std::uint16_t>(p.integer));
        break;
      case WireType::kFourByte:
        w.u32(p.integer);
        break;
      case WireType::kVarint:
        w.varint(p.integer);
        break;
      case WireType::kUtf8:
      case WireType::kBinary:
        w.string(p.value);
        break;
      case WireType::kPair:
        w.string(p.name);
        w.string(p.value);
        break;
      case WireType::kNone:
        break;
    }
  }
}

std::uint8_t writePublishBody(Writer& w, const PublishView& p, bool v5) {
  auto first = static_cast<std::uint8_t>(static_cast<unsigned>(PacketType::kPublish) << 4);
  first |= static_cast<std::uint8_t>(static_cast<unsigned>(p.qos) << 1);
  if (p.retain) first |= 0x01;
  if (p.dup) first |= 0x08;
  w.string(p.topic);
  if (p.qos != Qos::kAtMostOnce) w.u16(p.packet_id);
  if (v5) {
    static const Properties kNone;
    writeProperties(w, p.properties != nullptr ? *p.properties : kNone);
  }
  w.raw(p.payload);
  return first;
}

std::uint8_t writeBody(Writer& w, const Packet& packet, ProtocolVersion version) {
  const bool v5 = version == ProtocolVersion::kV5;
  const PacketType type = packetType(packet);
  auto first = static_cast<std::uint8_t>(static_cast<unsigned>(type) << 4);
  if (type == PacketType::kPubrel || type == PacketType::kSubscribe ||
      type == PacketType::kUnsubscribe) {
    first |= 0x02;
  }
  if (const auto* c = std::get_if<Connect>(&packet)) {
    const bool cv5 = c->version == ProtocolVersion::kV5;
    w.string("MQTT");
    w.byte(static_cast<std::uint8_t>(c->version));
    std::uint8_t flags = 0;
    if (c->clean_start) flags |= 0x02;
    if (c->will) {
      flags |= 0x04;
      flags |= static_cast<std::uint8_t>(static_cast<unsigned>(c->will->qos) << 3);
      if (c->will->retain) flags |= 0x20;
    }
    if (c->password) flags |= 0x40;
    if (c->username) flags |= 0x80;
    w.byte(flags);
    w.u16(c->keep_alive);
    if (cv5) writeProperties(w, c->properties);
    w.string(c->client_id);
    if (c->will) {
      if (cv5) writeProperties(w, c->will->properties);
      w.string(c->will->topic);
      w.string(c->will->payload);
    }
    if (c->username) w.string(*c->username);
    if (c->password) w.string(*c->password);
  } else if (const auto* ca = std::get_if<Connack>(&packet)) {
    w.byte(ca->session_present ? 1 : 0);
    if (v5) {
      w.byte(static_cast<std::uint8_t>(ca->reason));
      writeProperties(w, ca->properties);
    } else if (auto code = connackToV311(ca->reason)) {
      w.byte(*code);
    } else {
      w.fail();
    }
  } else if (const auto* p = std::get_if<Publish>(&packet)) {
    first = writePublishBody(w, PublishView{p->topic, p->payload, p->qos, p->retain, p->dup,
                                            p->packet_id, &p->properties},
                             v5);
  } else if (const auto* r = std::get_if<PublishResponse>(&packet)) {
    w.u16(r->packet_id);
    if (v5 && (r->reason != ReasonCode::kSuccess || !r->properties.empty())) {
      w.byte(static_cast<std::uint8_t>(r->reason));
      if (!r->properties.empty()) writeProperties(w, r->properties);
    }
  } else if (const auto* s = std::get_if<Subscribe>(&packet)) {
    w.u16(s->packet_id);
    if (v5) writeProperties(w, s->properties);
    for (const Subscription& sub : s->subscriptions) {
      w.string(sub.filter);
      auto options = static_cast<std::uint8_t>(sub.options.qos);
      if (v5) {
        if (sub.options.no_local) options |= 0x04;
        if (sub.options.retain_as_published) options |= 0x08;
        options |=
            static_cast<std::uint8_t>(static_cast<unsigned>(sub.options.retain_handling) << 4);
      }
      w.byte(options);
    }
  } else if (const auto* sa = std::get_if<Suback>(&packet)) {
    w.u16(sa->packet_id);
    if (v5) writeProperties(w, sa->properties);
    for (ReasonCode reason : sa->reasons) {
      auto code = static_cast<std::uint8_t>(reason);
      w.byte(v5 || code <= 2 ? code : std::uint8_t{0x80});
    }
  } else if (const auto* u = std::get_if<Unsubscribe>(&packet)) {
    w.u16(u->packet_id);
    if (v5) writeProperties(w, u->properties);
    for (const std::string& filter : u->filters) w.string(filter);
  } else if (const auto* ua = std::get_if<Unsuback>(&packet)) {
    w.u16(ua->packet_id);
    if (v5) {
      writeProperties(w, ua->properties);
      for (ReasonCode reason : ua->reasons) w.byte(static_cast<std::uint8_t>(reason));
    }
  } else if (const auto* d = std::get_if<Disconnect>(&packet)) {
    if (v5 && (d->reason != ReasonCode::kSuccess || !d->properties.empty())) {
      w.byte(static_cast<std::uint8_t>(d->reason));
      if (!d->properties.empty()) writeProperties(w, d->properties);
    }
  } else if (const auto* a = std::get_if<Auth>(&packet)) {
    if (!v5) w.fail();
    if (a->reason != ReasonCode::kSuccess || !a->properties.empty()) {
      w.byte(static_cast<std::uint8_t>(a->reason));
      if (!a->properties.empty()) writeProperties(w, a->properties);
    }
  }
  return first;
}


// Leaves room for the largest fixed header, writes the body, then slides the real header in: the
// remaining length is known only afterwards and this avoids a temporary buffer.
template <typename WriteBody>
bool encodeFramed(std::string& out, WriteBody&& write_body) {
  constexpr std::size_t kMaxHeader = 5;
  const std::size_t start = out.size();
  out.append(kMaxHeader, '\0');
  Writer w(out);
  const std::uint8_t first = write_body(w);
  const std::size_t body = out.size() - start - kMaxHeader;
  if (!w.ok() || body > kMaxRemainingLength) {
    out.resize(start);
    return false;
  }
  const auto remaining = static_cast<std::uint32_t>(body);
  const std::size_t header = 1 + varintSize(remaining);
  std::size_t pos = start + kMaxHeader - header;
  out[pos++] = static_cast<char>(first);
  std::uint32_t v = remaining;
  do {
    auto b = static_cast<std::uint8_t>(v & 0x7f);
    v >>= 7;
    if (v != 0) b |= 0x80;
    out[pos++] = static_cast<char>(b);
  } while (v != 0);
  out.erase(start, kMaxHeader - header);
  return true;
}

}  // namespace

bool encodeTo(const Packet& packet, ProtocolVersion version, std::string& out) {
  return encodeFramed(out, [&](Writer& w) { return writeBody(w, packet, version); });
}

bool encodePublishTo(const PublishView& publish, ProtocolVersion version, std::string& out) {
  return encodeFramed(
      out, [&](Writer& w) { return writePublishBody(w, publish, version == ProtocolVersion::kV5); });
}

std::optional<std::string> encode(const Packet& packet, ProtocolVersion version) {
  std::string out;
  if (!encodeTo(packet, version, out)) return std::nullopt;
  return out;
}

}  // namespace fleetgate::mqtt
