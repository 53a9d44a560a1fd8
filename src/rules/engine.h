#pragma once

// The topic-rule engine: each account's enabled rules, matched against every message the broker
// routes; matching rules' actions run on the engine's own threads so the broker never waits.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/random.h"
#include "mqtt/routed_message.h"
#include "rules/http_client.h"

namespace fleetgate::rules {

using Message = mqtt::RoutedMessage;

// A stored rule as the registry holds it.
struct RuleDefinition {
  std::string name;
  std::string sql;
  std::string actions_json;  // JSON array of AWS `Action` objects
  std::optional<std::string> error_action_json;  // one `Action` object
  bool disabled = false;
};

using RuleLoader =
    std::function<Result<std::vector<RuleDefinition>>(const std::string& account_id)>;
// Publishes as the broker does for a client. `rule_depth` is the depth of the message the rule
// matched plus one, so republish loops end (EngineOptions::max_rule_depth).
using Republisher = std::function<void(const std::string& account_id, const std::string& topic,
                                       std::string payload, int qos, int rule_depth)>;

struct EngineOptions {
  int threads = 1;  // action threads; one is plenty since HTTP calls are asynchronous
  std::size_t max_pending_actions = 1000;  // queued or running; more are dropped and counted
  int max_rule_depth = 8;  // messages produced by this many republish hops are ignored
  RetryPolicy http;
};

struct EngineCounters {
  std::uint64_t messages_ignored_depth = 0;
  std::uint64_t rules_matched = 0;
  std::uint64_t actions_succeeded = 0;
  std::uint64_t actions_failed = 0;
  std::uint64_t actions_dropped = 0;
  std::uint64_t error_actions_succeeded = 0;
  std::uint64_t error_actions_failed = 0;
  std::uint64_t rules_not_loaded = 0;  // stored rules that no longer compile
};

class RuleEngine {
 public:
  struct Dependencies {
    RuleLoader loader;
    Republisher republisher;
    const Clock& clock;
    Random& random;
  };
  RuleEngine(EngineOptions options, Dependencies deps);
  ~RuleEngine();  // stops
  RuleEngine(const RuleEngine&) = delete;
  RuleEngine& operator=(const RuleEngine&) = delete;

  // Starts the action threads. Once.
  void start();
  // Joins the action threads; queued and running actions are abandoned, later messages
  // ignored. Idempotent.
  void stop();

  // (Re)loads an account's rules through the loader; an account the loader does not find
  // (ResourceNotFoundException) is forgotten. Runs the loader on the calling thread.
  Status reload(const std::string& account_id);
  // A registry change: resources "topicRule" and "account" reload that account.
  void onRegistryEvent(std::string_view resource, const std::string& account_id);

  // Offers a routed message. Never blocks: evaluates the matching rules on the calling thread
  // and queues their actions.
  void onMessage(const Message& message);

  // True while an enabled rule selects from `$aws/events/…`: the broker builds the lifecycle
  // events it otherwise skips when nobody subscribes to them.
  bool wantsEvents() const;

  EngineCounters counters() const;
  // Prometheus text exposition of the counters, to append to GET /metrics.
  std::string metricsText() const;
  // For tests and shutdown: waits until no action is queued or running, at most `timeout`.
  bool waitIdle(std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetgate::rules
