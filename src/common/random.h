#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace fleetgate {

// Injected source of randomness. The production one is cryptographically secure
// (pki::SecureRandom); tests may use a seeded one.
class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;

  std::string hex(std::size_t bytes);  // lowercase hex of `bytes` random bytes
  std::string uuid();                  // RFC 4122 version 4, lowercase
};

}  // namespace fleetgate
