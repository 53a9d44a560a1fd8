// Input: one byte choosing the protocol version and chunking seed, then an MQTT byte stream.
// Besides not crashing: chunked feeding must give the same packets as feeding all at once, and
// every decoded packet must survive encode -> decode unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/codec.h"

namespace {

using fleetgate::mqtt::DecodeError;
using fleetgate::mqtt::Decoder;
using fleetgate::mqtt::DecodeResult;
using fleetgate::mqtt::DecoderOptions;
using fleetgate::mqtt::Packet;
using fleetgate::mqtt::ProtocolVersion;

std::vector<DecodeResult> drain(Decoder& decoder) {
  std::vector<DecodeResult> out;
  while (true) {
    DecodeResult r = decoder.next();
    if (std::holds_alternative<std::monostate>(r)) break;
    const bool error = std::holds_alternative<DecodeError>(r);
    out.push_back(std::move(r));
    if (error) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  DecoderOptions options;
  options.max_packet_size = 4096;
  options.max_payload_size = 2048;
  // Low bits: start from CONNECT (learn the version), or from a fixed 3.1.1 or 5 stream.
  switch (control & 0x03) {
    case 1:
      options.version = ProtocolVersion::kV311;
      break;
    case 2:
      options.version = ProtocolVersion::kV5;
      break;
    default:
      break;
  }

  Decoder whole(options);
  whole.feed(stream);
  std::vector<DecodeResult> expected = drain(whole);

  Decoder chunked(options);
  std::vector<DecodeResult> got;
  std::uint32_t state = control | 1u;
  for (std::size_t pos = 0; pos < stream.size();) {
    state = state * 1103515245u + 12345u;
    std::size_t chunk = 1 + (state >> 16) % 64;
    if (chunk > stream.size() - pos) chunk = stream.size() - pos;
    chunked.feed(stream.substr(pos, chunk));
    pos += chunk;
    for (DecodeResult& r : drain(chunked)) got.push_back(std::move(r));
    if (!got.empty() && std::holds_alternative<DecodeError>(got.back())) break;
  }
  if (got != expected) __builtin_trap();

  const ProtocolVersion version = whole.version().value_or(ProtocolVersion::kV5);
  for (const DecodeResult& r : expected) {
    const Packet* packet = std::get_if<Packet>(&r);
    if (packet == nullptr) continue;
    const ProtocolVersion v = std::holds_alternative<fleetgate::mqtt::Connect>(*packet)
                                  ? std::get<fleetgate::mqtt::Connect>(*packet).version
                                  : version;
    auto bytes = fleetgate::mqtt::encode(*packet, v);
    if (!bytes) __builtin_trap();
    DecoderOptions again = options;
    again.version = v;
    Decoder decoder(again);
    decoder.feed(*bytes);
    DecodeResult back = decoder.next();
    const Packet* round = std::get_if<Packet>(&back);
    if (round == nullptr || *round != *packet) __builtin_trap();
  }
  return 0;
}
