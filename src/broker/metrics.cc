#include "broker/metrics.h"

#include <fmt/format.h>

namespace fleetgate::broker {

std::string_view authFailureName(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kTlsHandshake: return "tls_handshake";
    case AuthFailure::kUnknownCertificate: return "unknown_certificate";
    case AuthFailure::kCertificateNotActive: return "certificate_not_active";
    case AuthFailure::kCertificateExpired: return "certificate_expired";
    case AuthFailure::kCertificateNotYetValid: return "certificate_not_yet_valid";
    case AuthFailure::kUnknownAccount: return "unknown_account";
    case AuthFailure::kConnectDenied: return "connect_denied";
    case AuthFailure::kWillDenied: return "will_denied";
    case AuthFailure::kInvalidConnect: return "invalid_connect";
    case AuthFailure::kServerError: return "server_error";
    case AuthFailure::kJustProvisioned: return "just_provisioned";
    case AuthFailure::kPendingActivation: return "pending_activation";
    case AuthFailure::kCount: break;
  }
  return "unknown";
}

namespace {

template <typename Field>
std::uint64_t sum(const std::vector<const WorkerMetrics*>& workers, Field field) {
  std::uint64_t total = 0;
  for (const WorkerMetrics* w : workers) total += field(*w).load(std::memory_order_relaxed);
  return total;
}

void header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename Field>
void single(std::string& out, const std::vector<const WorkerMetrics*>& workers,
            std::string_view name, std::string_view type, std::string_view help, Field field) {
  header(out, name, type, help);
  out += fmt::format("{} {}\n", name, sum(workers, field));
}

}  // namespace

std::string renderPrometheus(const std::vector<const WorkerMetrics*>& workers,
                             const RegistryEventCounts& registry_events) {
  std::string out;
  single(out, workers, "fleetgate_mqtt_sockets", "gauge", "TCP connections open on MQTT ports.",
         [](const WorkerMetrics& w) -> auto& { return w.sockets; });
  single(out, workers, "fleetgate_mqtt_connections", "gauge", "MQTT clients connected.",
         [](const WorkerMetrics& w) -> auto& { return w.connections; });
  single(out, workers, "fleetgate_mqtt_tls_handshakes_total", "counter",
         "Completed TLS handshakes.", [](const WorkerMetrics& w) -> auto& { return w.handshakes; });
  single(out, workers, "fleetgate_mqtt_connects_total", "counter",
         "Accepted MQTT CONNECTs (rate() gives connects per second).",
         [](const WorkerMetrics& w) -> auto& { return w.connects; });

  header(out, "fleetgate_mqtt_auth_failures_total", "counter",
         "Refused connection attempts by reason.");
  for (std::size_t i = 0; i < static_cast<std::size_t>(AuthFailure::kCount); ++i) {
    out += fmt::format("fleetgate_mqtt_auth_failures_total{{reason=\"{}\"}} {}\n",
                       authFailureName(static_cast<AuthFailure>(i)),
                       sum(workers, [i](const WorkerMetrics& w) -> auto& {
                         return w.auth_failures[i];
                       }));
  }
  header(out, "fleetgate_mqtt_disconnects_total", "counter",
         "Ended MQTT connections by AWS disconnectReason.");
  for (std::size_t i = 1; i < kDisconnectReasonCount; ++i) {
    out += fmt::format(
        "fleetgate_mqtt_disconnects_total{{reason=\"{}\"}} {}\n",
        mqtt::disconnectReasonName(static_cast<mqtt::DisconnectReason>(i)),
        sum(workers, [i](const WorkerMetrics& w) -> auto& { return w.disconnects[i]; }));
  }
  header(out, "fleetgate_mqtt_policy_denials_total", "counter",
         "Requests an IoT policy denied, by action.");
  for (auto action : {policy::Action::kConnect, policy::Action::kPublish,
                      policy::Action::kSubscribe, policy::Action::kReceive,
                      policy::Action::kRetainPublish}) {
    const auto i = static_cast<std::size_t>(action);
    out += fmt::format(
        "fleetgate_mqtt_policy_denials_total{{action=\"{}\"}} {}\n", policy::actionName(action),
        sum(workers, [i](const WorkerMetrics& w) -> auto& { return w.policy_denials[i]; }));
  }
  single(out, workers, "fleetgate_jitp_provisioned_total", "counter",
         "Unknown device certificates provisioned by their CA's template (JITP).",
         [](const WorkerMetrics& w) -> auto& { return w.jitp_provisioned; });
  single(out, workers, "fleetgate_jitr_registered_total", "counter",
         "Unknown device certificates registered PENDING_ACTIVATION (JITR).",
         [](const WorkerMetrics& w) -> auto& { return w.jitr_registered; });
  single(out, workers, "fleetgate_auto_registration_failures_total", "counter",
         "Eligible unknown certificates whose template or registration failed.",
         [](const WorkerMetrics& w) -> auto& { return w.auto_registration_failures; });
  single(out, workers, "fleetgate_mqtt_messages_received_total", "counter",
         "PUBLISH packets accepted from clients.",
         [](const WorkerMetrics& w) -> auto& { return w.messages_in; });
  single(out, workers, "fleetgate_mqtt_messages_sent_total", "counter",
         "PUBLISH packets delivered to clients.",
         [](const WorkerMetrics& w) -> auto& { return w.messages_out; });
  single(out, workers, "fleetgate_mqtt_messages_dropped_total", "counter",
         "Deliveries dropped: QoS 0 to a slow reader, or a full offline session queue.",
         [](const WorkerMetrics& w) -> auto& { return w.messages_dropped; });
  single(out, workers, "fleetgate_mqtt_received_bytes_total", "counter",
         "Bytes read from MQTT sockets (TLS records).",
         [](const WorkerMetrics& w) -> auto& { return w.bytes_in; });
  single(out, workers, "fleetgate_mqtt_sent_bytes_total", "counter",
         "Bytes written to MQTT sockets (TLS records).",
         [](const WorkerMetrics& w) -> auto& { return w.bytes_out; });

  header(out, "fleetgate_registry_events_total", "counter",
         "Committed registry changes by resource and operation (provisioning counts).");
  for (const auto& [key, count] : registry_events) {
    out += fmt::format("fleetgate_registry_events_total{{resource=\"{}\",operation=\"{}\"}} {}\n",
                       key.first, key.second, count);
  }
  return out;
}

}  // namespace fleetgate::broker
