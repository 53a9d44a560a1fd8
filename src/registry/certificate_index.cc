#include "registry/certificate_index.h"

namespace fleetgate::registry {

CertificateIndex::CertificateIndex(Registry& registry, EventBus& events, std::size_t max_entries)
    : registry_(registry), max_entries_(max_entries) {
  events.subscribe([this](const Event& e) { invalidate(e); });
}

Result<CertificateIndex::Entry> CertificateIndex::lookup(const std::string& certificate_id) {
  std::uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(certificate_id); it != entries_.end()) return it->second;
    generation = generation_;
  }
  FG_ASSIGN_OR_RETURN(auto certs, registry_.findCertificateEverywhere(certificate_id));
  auto entry = std::make_shared<const std::vector<Certificate>>(std::move(certs));
  std::lock_guard lock(mutex_);
  if (generation == generation_) {
    if (entries_.size() >= max_entries_) entries_.clear();
    entries_.emplace(certificate_id, entry);
  }
  return Entry(entry);
}

std::size_t CertificateIndex::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void CertificateIndex::invalidate(const Event& event) {
  std::lock_guard lock(mutex_);
  if (event.resource == EventResource::kCertificate) {
    ++generation_;
    entries_.erase(event.id);
  } else if (event.resource == EventResource::kAccount) {
    ++generation_;
    entries_.clear();
  }
}

}  // namespace fleetgate::registry
