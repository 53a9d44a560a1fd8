#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "registry/registry.h"

namespace fleetgate::registry {

// Read-through in-memory index of device certificates by id across accounts, so the broker's
// handshake path authenticates without a database round trip. Entries are dropped when a
// registry event says the certificate (or its account) changed.
class CertificateIndex {
 public:
  using Entry = std::shared_ptr<const std::vector<Certificate>>;

  CertificateIndex(Registry& registry, EventBus& events, std::size_t max_entries = 1'000'000);

  // Every account's registration of the certificate (empty when unknown).
  Result<Entry> lookup(const std::string& certificate_id);
  std::size_t size() const;

 private:
  void invalidate(const Event& event);

  Registry& registry_;
  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  // Bumped on every invalidation; a load that raced with one is not cached.
  std::uint64_t generation_ = 0;
};

}  // namespace fleetgate::registry
