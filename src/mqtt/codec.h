#pragma once

// MQTT wire codec without I/O: the connection code feeds received bytes to a Decoder and writes
// what encode() returns. Nothing here reads a clock, a socket or a thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "mqtt/packet.h"

namespace fleetgate::mqtt {

// AWS IoT: MQTT 5 maximum packet size 146 KB (spec §9.4, unverified third-party figure) and a
// 128 KB publish payload limit.
inline constexpr std::uint32_t kDefaultMaxPacketSize = 146 * 1024;
inline constexpr std::uint32_t kDefaultMaxPayloadSize = 128 * 1024;
// Largest value a 4-byte variable byte integer holds (MQTT §1.5.5).
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;

struct DecoderOptions {
  // Whole packet (fixed header included), the MQTT 5 "Maximum Packet Size" meaning. Checked from
  // the fixed header alone, so an oversized packet is refused before it is buffered.
  std::uint32_t max_packet_size = kDefaultMaxPacketSize;
  std::uint32_t max_payload_size = kDefaultMaxPayloadSize;
  // Unset on the server side: learned from CONNECT, which must then be the first packet. Set it
  // to decode a stream that does not start with CONNECT (client side, tests).
  std::optional<ProtocolVersion> version;
};

// Why the stream was refused, as the MQTT 5 reason code for CONNACK/DISCONNECT (the broker maps
// it for 3.1.1 clients, which just get the connection closed or a CONNACK return code).
struct DecodeError {
  ReasonCode reason = ReasonCode::kMalformedPacket;
  std::string detail;  // for the log, not for the client

  bool operator==(const DecodeError&) const = default;
};

// monostate: no complete packet yet.
using DecodeResult = std::variant<std::monostate, Packet, DecodeError>;

class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {});

  void feed(std::string_view bytes);
  void feed(std::span<const std::uint8_t> bytes);

  // After an error the stream cannot be resynchronised: every later call repeats the error.
  DecodeResult next();

  std::optional<ProtocolVersion> version() const { return version_; }
  std::size_t buffered() const { return buffer_.size() - start_; }
  // Frees the buffer's capacity when nothing is buffered (an idle connection keeps no memory).
  void releaseMemory();

 private:
  DecoderOptions options_;
  std::optional<ProtocolVersion> version_;
  std::string buffer_;
  std::size_t start_ = 0;  // consumed prefix of buffer_, dropped lazily to avoid memmove per packet
  std::optional<DecodeError> failed_;
};

// Decodes one complete packet body given the fixed header's first byte (type and flags). The
// Decoder is the normal entry point; this is for callers that frame packets themselves.
DecodeResult decodePacket(std::uint8_t first_byte, std::string_view body, ProtocolVersion version,
                          const DecoderOptions& options);

// Appends the wire form of `packet` for `version` to `out`. Fails (and leaves `out` unchanged)
// on what cannot be represented: a string over 65535 bytes, a packet over the remaining-length
// limit, AUTH or a v5-only reason code in 3.1.1. Fields that 3.1.1 lacks (properties, PUBACK
// reasons) are dropped, as they are absent on the wire. A CONNECT is always written in its own
// `version` field's layout, since it is the packet that announces the version.
bool encodeTo(const Packet& packet, ProtocolVersion version, std::string& out);
std::optional<std::string> encode(const Packet& packet, ProtocolVersion version);

// A PUBLISH whose topic and payload live elsewhere (a message shared by many subscribers), so
// delivering it copies them once, into the wire buffer.
struct PublishView {
  std::string_view topic;
  std::string_view payload;
  Qos qos = Qos::kAtMostOnce;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
  const Properties* properties = nullptr;  // v5 only; nullptr: none
};
bool encodePublishTo(const PublishView& publish, ProtocolVersion version, std::string& out);

}  // namespace fleetgate::mqtt
