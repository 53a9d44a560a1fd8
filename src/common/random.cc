#include "common/random.h"

#include <vector>

#include "common/encoding.h"

namespace fleetgate {

std::string Random::hex(std::size_t bytes) {
  std::vector<std::uint8_t> buf(bytes);
  fill(buf);
  return hexEncode(buf);
}

std::string Random::uuid() {
  std::uint8_t b[16];
  fill(b);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
  std::string h = hexEncode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

}  // namespace fleetgate
