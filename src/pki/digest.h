#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/random.h"

namespace fleetgate::pki {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
std::string sha256Hex(std::string_view data);
Digest hmacSha256(std::string_view key, std::string_view data);
// Constant-time comparison for secrets and signatures.
bool constantTimeEquals(std::string_view a, std::string_view b);

// Cryptographically secure randomness (OpenSSL RAND_bytes).
class SecureRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

}  // namespace fleetgate::pki
