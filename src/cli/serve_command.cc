// `fleetgate serve`: the control plane and the MQTT broker on one data directory.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/control_plane.h"
#include "broker/broker.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "http/http_server.h"
#include "rules/engine.h"

namespace fleetgate::cli {
namespace {

struct BoundPorts {
  std::uint16_t api = 0;
  std::uint16_t mqtt = 0;
  std::uint16_t mqtt_alpn = 0;
};

Status writePortFile(const std::string& path, const BoundPorts& ports) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json{{"api", ports.api}, {"mqtt", ports.mqtt}, {"mqtt_alpn", ports.mqtt_alpn}}
        << "\n";
    if (!out) return internalError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // readers never see a half-written file
  if (ec) return internalError("cannot rename " + tmp + ": " + ec.message());
  return {};
}

// What to do when a listener could not bind.
std::string portHint(const Error& error, std::string_view options) {
  if (!error.cause().starts_with("cannot listen")) return {};
  return "Stop the process that holds the port, or choose another with " + std::string(options) +
         " (0 picks a free port).";
}

}  // namespace

int runServe(const ServeOptions& options) {
  DataDir dir(options.data_dir);
  if (!dir.initialized()) {
    std::fprintf(stderr, "fleetgate: %s is not initialized; run `fleetgate init --data-dir %s`\n",
                 options.data_dir.c_str(), options.data_dir.c_str());
    return 1;
  }
  auto config = dir.loadConfig();
  if (!config.ok()) return fail(config.error());
  auto lock = DataDirLock::tryAcquire(dir);
  if (!lock.ok()) return fail(lock.error());
  if (!*lock) {
    std::fprintf(stderr, "fleetgate: another fleetgate process is serving %s\n",
                 options.data_dir.c_str());
    return 1;
  }

  // Block the stop signals before any thread starts so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::optional<std::filesystem::path> secrets_key_file;
  if (options.secrets_key_file) secrets_key_file = *options.secrets_key_file;
  auto services = Services::open(dir, *config, options.key_pool_size, secrets_key_file);
  if (!services.ok()) return fail(services.error());
  Services& s = **services;

  api::ControlPlane control_plane(s.registry(), s.events(), s.clock(), s.random(),
                                  api::ControlPlaneOptions{config->domain});
  http::ServerOptions http_options;
  http_options.bind_address = options.api_bind_address.value_or(config->api_bind_address);
  http_options.port = static_cast<std::uint16_t>(options.api_port.value_or(config->api_port));
  http_options.certificate_chain_file = dir.serverCertificate().string();
  http_options.private_key_file = dir.serverKey().string();
  // Handlers block while their write joins a group commit (an fsync of ~5 ms here), so more
  // threads than cores let concurrent requests share commits instead of queueing behind them.
  http_options.threads =
      options.threads > 0 ? options.threads
                          : static_cast<int>(8 * std::max(1u, std::thread::hardware_concurrency()));
  // Topic rules. The engine outlives the broker that calls it; it republishes through the
  // broker once that exists.
  std::atomic<broker::Broker*> republish_to{nullptr};
  rules::RuleEngine rule_engine(
      rules::EngineOptions{},
      rules::RuleEngine::Dependencies{
          [&s](const std::string& account_id) -> Result<std::vector<rules::RuleDefinition>> {
            FG_ASSIGN_OR_RETURN(auto stored, s.registry().allTopicRules(account_id));
            std::vector<rules::RuleDefinition> out;
            for (auto& r : stored) {
              out.push_back({std::move(r.name), std::move(r.sql), std::move(r.actions),
                             std::move(r.error_action), r.disabled});
            }
            return out;
          },
          [&republish_to](const std::string& account_id, const std::string& topic,
                          std::string payload, int qos, int rule_depth) {
            if (broker::Broker* b = republish_to.load()) {
              b->publish(account_id, topic, std::move(payload), qos, rule_depth);
            }
          },
          s.clock(), s.random()});
  // Synchronous on the committing thread, so a rule is live once its API call returns.
  s.events().subscribe([&rule_engine](const registry::Event& e) {
    rule_engine.onRegistryEvent(registry::resourceName(e.resource), e.account_id);
  });
  if (auto accounts = s.registry().listAccounts(); accounts.ok()) {
    for (const auto& account : *accounts) {
      if (auto loaded = rule_engine.reload(account.id); !loaded.ok()) return fail(loaded.error());
    }
  } else {
    return fail(accounts.error());
  }
  rule_engine.start();

  broker::BrokerOptions broker_options;
  broker_options.bind_address = options.mqtt_bind_address.value_or(http_options.bind_address);
  broker_options.mqtt_port = options.mqtt_port;
  broker_options.alpn_port = options.mqtt_alpn_port;
  broker_options.certificate_chain_file = dir.serverCertificate().string();
  broker_options.private_key_file = dir.serverKey().string();
  broker_options.workers = options.mqtt_workers;
  broker_options.default_account_id = config->default_account_id;
  broker_options.domain = config->domain;
  broker_options.require_server_name = options.require_sni;
  provisioning::AutoRegistrar auto_registrar(s.registry(), s.clock());
  SteadyClock monotonic_clock;
  broker::BrokerDependencies broker_deps{s.registry(), s.certificateIndex(), s.events(), s.clock(),
                                         monotonic_clock, s.random()};
  broker_deps.auto_registrar = &auto_registrar;
  broker_deps.observer = [&rule_engine](const mqtt::RoutedMessage& m) {
    rule_engine.onMessage(m);
  };
  broker_deps.observer_wants_events = [&rule_engine] { return rule_engine.wantsEvents(); };
  broker::Broker broker(broker_options, broker_deps);
  republish_to = &broker;
  if (auto started = broker.start(); !started.ok()) {
    return fail(started.error(), portHint(started.error(), "--mqtt-port / --mqtt-alpn-port"));
  }
  spdlog::info("MQTT listening on {} port {} (ALPN x-amzn-mqtt-ca port {})",
               broker_options.bind_address, broker.mqttPort(), broker.alpnPort());

  http::Server server(
      http_options,
      [&](const http::Request& r) {
        // Prometheus scrapes without AWS credentials; the counters name no resource.
        if (r.path == "/metrics" && r.method == "GET") {
          return http::Response{
              200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
              broker.metrics() + rule_engine.metricsText()};
        }
        return control_plane.handle(r);
      },
      [&](const Error& e) { return control_plane.errorResponse(e); });
  if (auto started = server.start(); !started.ok()) {
    return fail(started.error(), portHint(started.error(), "--api-port"));
  }
  spdlog::info("control plane listening on https://{}:{}", http_options.bind_address,
               server.port());
  if (options.port_file) {
    BoundPorts ports{server.port(), broker.mqttPort(), broker.alpnPort()};
    if (auto w = writePortFile(*options.port_file, ports); !w.ok()) return fail(w.error());
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received signal {}, stopping", signal_number);
  server.stop();
  rule_engine.stop();  // before the broker it republishes through
  broker.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace fleetgate::cli
