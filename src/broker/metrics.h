#pragma once

// Broker counters, one block per worker thread so that the publish path never shares a cache
// line with another core; /metrics sums them in Prometheus text format.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/connection.h"
#include "policy/evaluator.h"

namespace fleetgate::broker {

// Why a connection attempt was refused (label `reason` of fleetgate_mqtt_auth_failures_total).
enum class AuthFailure : std::uint8_t {
  kTlsHandshake,
  kUnknownCertificate,
  kCertificateNotActive,
  kCertificateExpired,
  kCertificateNotYetValid,
  kUnknownAccount,
  kConnectDenied,
  kWillDenied,
  kInvalidConnect,
  kServerError,
  kJustProvisioned,   // JITP registered the certificate; the next connect gets in
  kPendingActivation, // JITR registered the certificate; it waits for activation
  kCount,
};
std::string_view authFailureName(AuthFailure failure);

inline constexpr std::size_t kDisconnectReasonCount =
    static_cast<std::size_t>(mqtt::DisconnectReason::kThrottled) + 1;

struct alignas(64) WorkerMetrics {
  using Counter = std::atomic<std::uint64_t>;
  // Each counter has one writer (its worker), so a relaxed load+store would do; fetch_add keeps
  // it obviously right at the same cost on an uncontended line.
  static void add(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

  Counter sockets{0};      // gauge: TCP connections open
  Counter connections{0};  // gauge: MQTT sessions connected
  Counter handshakes{0};
  Counter connects{0};
  std::array<Counter, static_cast<std::size_t>(AuthFailure::kCount)> auth_failures{};
  std::array<Counter, kDisconnectReasonCount> disconnects{};
  std::array<Counter, policy::kActionCount> policy_denials{};
  Counter jitp_provisioned{0};
  Counter jitr_registered{0};
  Counter auto_registration_failures{0};
  Counter messages_in{0};
  Counter messages_out{0};
  Counter messages_dropped{0};
  Counter bytes_in{0};
  Counter bytes_out{0};
};

// Counts of registry changes by (resource, operation), e.g. ("certificate", "created").
using RegistryEventCounts = std::map<std::pair<std::string, std::string>, std::uint64_t>;

std::string renderPrometheus(const std::vector<const WorkerMetrics*>& workers,
                             const RegistryEventCounts& registry_events);

}  // namespace fleetgate::broker
