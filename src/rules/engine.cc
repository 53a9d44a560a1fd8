#include "rules/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "common/encoding.h"
#include "mqtt/topic.h"
#include "rules/actions.h"
#include "rules/sql.h"

namespace fleetgate::rules {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::string_view kBasicIngestPrefix = "$aws/rules/";

struct CompiledRule {
  std::string name;
  Query query;
  std::vector<Action> actions;
  std::optional<Action> error_action;
  bool disabled = false;
};

using RuleSet = std::vector<std::shared_ptr<const CompiledRule>>;

Result<CompiledRule> compile(const RuleDefinition& definition) {
  CompiledRule rule;
  rule.name = definition.name;
  rule.disabled = definition.disabled;
  FG_ASSIGN_OR_RETURN(rule.query, parseSql(definition.sql));
  json actions = json::parse(definition.actions_json, nullptr, false);
  FG_ASSIGN_OR_RETURN(rule.actions, parseActions(actions));
  if (definition.error_action_json) {
    json error_action = json::parse(*definition.error_action_json, nullptr, false);
    FG_ASSIGN_OR_RETURN(rule.error_action, parseAction(error_action, "errorAction"));
  }
  return rule;
}

// An action with its templates rendered against the message that triggered it.
struct PreparedAction {
  bool republish = false;
  std::string type_name;  // "RepublishAction" | "HttpAction"
  std::string topic;      // republish
  int qos = 0;
  HttpPost post;          // http: url and headers; body filled when it runs
  std::string resource() const { return republish ? topic : post.url; }
};

PreparedAction prepare(const Action& action, const MessageContext& context) {
  PreparedAction out;
  out.type_name = std::string(actionTypeName(action));
  if (const auto* r = std::get_if<RepublishAction>(&action)) {
    out.republish = true;
    out.topic = r->topic.render(context);
    out.qos = r->qos;
  } else {
    const auto& h = std::get<HttpAction>(action);
    out.post.url = h.url.render(context);
    for (const auto& [key, value] : h.headers) {
      out.post.headers.emplace_back(key, value.render(context));
    }
  }
  return out;
}

// What the error action needs to describe a failure of one of the rule's actions.
struct FailureContext {
  std::string account_id;
  std::string rule_name;
  std::string topic;
  std::string client_id;
  std::string original_payload;
  int rule_depth = 0;
  std::optional<PreparedAction> error_action;
};

struct Counter {
  std::atomic<std::uint64_t> value{0};
  void add() { value.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

}  // namespace

struct RuleEngine::Impl {
  Impl(EngineOptions o, Dependencies d) : options(o), deps(std::move(d)) {}

  EngineOptions options;
  Dependencies deps;

  mutable std::shared_mutex rules_mutex;
  std::map<std::string, std::shared_ptr<const RuleSet>, std::less<>> rules;
  std::set<std::string, std::less<>> accounts_with_event_rules;  // under rules_mutex
  std::atomic<bool> wants_events{false};
  // Lets the publish path skip the lock while no account has a rule (the common case).
  std::atomic<bool> has_rules{false};

  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> pending{0};
  mutable std::mutex idle_mutex;
  mutable std::condition_variable idle;

  std::mutex random_mutex;  // Random need not be thread-safe

  Counter ignored_depth, matched, succeeded, failed, dropped, error_succeeded, error_failed,
      not_loaded;

  // Declared last: destroyed first, with the handlers it still holds.
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::mutex lifecycle_mutex;
  bool started = false;

  std::shared_ptr<const RuleSet> rulesOf(std::string_view account_id) const {
    std::shared_lock lock(rules_mutex);
    auto it = rules.find(account_id);
    return it == rules.end() ? nullptr : it->second;
  }

  void finishOne() {
    if (pending.fetch_sub(1) == 1) {
      std::lock_guard lock(idle_mutex);
      idle.notify_all();
    }
  }

  void queue(PreparedAction action, std::string body,
             std::shared_ptr<const FailureContext> failure) {
    if (stopped.load()) {
      dropped.add();
      return;
    }
    if (pending.fetch_add(1) >= options.max_pending_actions) {
      finishOne();
      dropped.add();
      return;
    }
    asio::post(io, [this, action = std::move(action), body = std::move(body),
                    failure = std::move(failure)]() mutable {
      run(std::move(action), std::move(body), std::move(failure));
    });
  }

  // Runs on an engine thread. Ends with finishOne(), possibly after the error action.
  void run(PreparedAction action, std::string body, std::shared_ptr<const FailureContext> failure) {
    if (action.republish) {
      std::string error = republish(action, std::move(body), *failure);
      if (error.empty()) {
        succeeded.add();
        finishOne();
      } else {
        failed.add();
        runErrorAction(action, error, failure);
      }
      return;
    }
    action.post.body = std::move(body);
    std::string url = action.post.url;
    PreparedAction described;
    described.type_name = action.type_name;
    described.post.url = url;
    postWithRetries(io, std::move(action.post), options.http,
                    [this, described = std::move(described), failure](HttpResult result) {
                      if (result.ok) {
                        succeeded.add();
                        finishOne();
                        return;
                      }
                      failed.add();
                      spdlog::debug("rule {}: http action to {} failed after {} attempts: {}",
                                    failure->rule_name, described.post.url, result.attempts,
                                    result.error);
                      runErrorAction(described, result.error, failure);
                    });
  }

  // Empty on success, else why it failed.
  std::string republish(const PreparedAction& action, std::string body,
                        const FailureContext& failure) {
    if (!mqtt::isValidTopicName(action.topic)) {
      return "the republish topic '" + action.topic + "' is not a valid topic name";
    }
    return publishFor(failure.account_id, action.topic, std::move(body), action.qos,
                      failure.rule_depth);
  }

  std::string publishFor(const std::string& account_id, const std::string& topic,
                         std::string body, int qos, int depth) {
    try {
      deps.republisher(account_id, topic, std::move(body), qos, depth + 1);
    } catch (const std::exception& e) {
      return std::string("republish failed: ") + e.what();
    }
    return "";
  }

  void runErrorAction(const PreparedAction& failed_action, const std::string& error,
                      const std::shared_ptr<const FailureContext>& failure) {
    if (!failure->error_action) {
      finishOne();
      return;
    }
    std::string trace_id;
    {
      std::lock_guard lock(random_mutex);
      trace_id = deps.random.uuid();
    }
    json payload{{"ruleName", failure->rule_name},
                 {"topic", failure->topic},
                 {"cloudwatchTraceId", trace_id},
                 {"clientId", failure->client_id},
                 {"base64OriginalPayload", base64Encode(failure->original_payload)},
                 {"failures",
                  json::array({{{"failedAction", failed_action.type_name},
                                {"failedResource", failed_action.resource()},
                                {"errorMessage", error}}})}};
    std::string body = payload.dump(-1, ' ', false, json::error_handler_t::replace);
    const PreparedAction& action = *failure->error_action;
    if (action.republish) {
      std::string republish_error =
          mqtt::isValidTopicName(action.topic)
              ? publishFor(failure->account_id, action.topic, std::move(body), action.qos,
                           failure->rule_depth)
              : "invalid topic " + action.topic;
      if (republish_error.empty()) {
        error_succeeded.add();
      } else {
        error_failed.add();
        spdlog::warn("rule {}: error action failed: {}", failure->rule_name, republish_error);
      }
      finishOne();
      return;
    }
    HttpPost post = action.post;
    post.body = std::move(body);
    postWithRetries(io, std::move(post), options.http, [this, failure](HttpResult result) {
      if (result.ok) {
        error_succeeded.add();
      } else {
        error_failed.add();
        spdlog::warn("rule {}: error action failed: {}", failure->rule_name, result.error);
      }
      finishOne();
    });
  }
};

RuleEngine::RuleEngine(EngineOptions options, Dependencies deps)
    : impl_(std::make_unique<Impl>(options, std::move(deps))) {}

RuleEngine::~RuleEngine() { stop(); }

void RuleEngine::start() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  if (impl_->started) return;
  impl_->started = true;
  impl_->work.emplace(impl_->io.get_executor());
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
}

void RuleEngine::stop() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  impl_->stopped = true;
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard idle_lock(impl_->idle_mutex);
  impl_->idle.notify_all();
}

Status RuleEngine::reload(const std::string& account_id) {
  auto definitions = impl_->deps.loader(account_id);
  if (!definitions.ok()) {
    if (definitions.error().kind() != ErrorKind::kResourceNotFound) {
      return std::move(definitions).error();
    }
    definitions = std::vector<RuleDefinition>{};  // the account is gone: so are its rules
  }
  auto set = std::make_shared<RuleSet>();
  for (const RuleDefinition& d : *definitions) {
    auto rule = compile(d);
    if (!rule.ok()) {
      // Stored rules were validated when written; this is a rule an older fleetgate accepted.
      impl_->not_loaded.add();
      spdlog::warn("topic rule {} of account {} is not loaded: {}", d.name, account_id,
                   rule.error().message());
      continue;
    }
    set->push_back(std::make_shared<const CompiledRule>(std::move(rule).value()));
  }
  const bool event_rules = std::any_of(set->begin(), set->end(), [](const auto& rule) {
    return !rule->disabled && rule->query.topicFilter().starts_with("$aws/events/");
  });
  std::unique_lock lock(impl_->rules_mutex);
  if (set->empty()) {
    impl_->rules.erase(account_id);
  } else {
    impl_->rules[account_id] = std::move(set);
  }
  if (event_rules) {
    impl_->accounts_with_event_rules.insert(account_id);
  } else {
    impl_->accounts_with_event_rules.erase(account_id);
  }
  impl_->wants_events = !impl_->accounts_with_event_rules.empty();
  impl_->has_rules = !impl_->rules.empty();
  return {};
}

bool RuleEngine::wantsEvents() const {
  return impl_->wants_events.load(std::memory_order_relaxed);
}

void RuleEngine::onRegistryEvent(std::string_view resource, const std::string& account_id) {
  if (resource != "topicRule" && resource != "account") return;
  if (auto s = reload(account_id); !s.ok()) {
    spdlog::error("cannot reload the topic rules of account {}: {}", account_id,
                  s.error().cause().empty() ? s.error().message() : s.error().cause());
  }
}

void RuleEngine::onMessage(const Message& m) {
  Impl& impl = *impl_;
  if (impl.stopped.load(std::memory_order_relaxed) ||
      !impl.has_rules.load(std::memory_order_relaxed)) {
    return;
  }
  auto rules = impl.rulesOf(m.account_id);
  if (!rules) return;

  // Basic Ingest: `$aws/rules/<ruleName>/<rest>` goes to the named rule only, whose FROM is
  // matched against <rest>.
  std::string_view topic = m.topic;
  std::vector<const CompiledRule*> candidates;
  if (topic.starts_with(kBasicIngestPrefix)) {
    std::string_view after = topic.substr(kBasicIngestPrefix.size());
    auto slash = after.find('/');
    if (slash == std::string_view::npos || slash + 1 == after.size()) return;
    std::string_view name = after.substr(0, slash);
    topic = after.substr(slash + 1);
    for (const auto& rule : *rules) {
      if (rule->name == name && !rule->disabled &&
          mqtt::topicMatches(rule->query.topicFilter(), topic)) {
        candidates.push_back(rule.get());
      }
    }
  } else {
    for (const auto& rule : *rules) {
      if (!rule->disabled && mqtt::topicMatches(rule->query.topicFilter(), topic)) {
        candidates.push_back(rule.get());
      }
    }
  }
  if (candidates.empty()) return;
  if (m.rule_depth >= impl.options.max_rule_depth) {
    impl.ignored_depth.add();
    return;
  }

  std::optional<json> payload = parsePayload(m.payload);
  MessageContext context{topic, m.client_id, m.principal,
                         toEpochMillis(impl.deps.clock.now()),
                         payload ? &*payload : nullptr};
  for (const CompiledRule* rule : candidates) {
    if (!rule->query.matches(context)) continue;
    impl.matched.add();
    RuleOutput output = rule->query.select(context, m.payload);
    auto failure = std::make_shared<FailureContext>();
    failure->account_id = std::string(m.account_id);
    failure->rule_name = rule->name;
    failure->topic = std::string(m.topic);
    failure->client_id = std::string(m.client_id);
    failure->rule_depth = m.rule_depth;
    if (rule->error_action) {
      failure->original_payload = std::string(m.payload);
      failure->error_action = prepare(*rule->error_action, context);
    }
    std::shared_ptr<const FailureContext> shared = std::move(failure);
    for (std::size_t i = 0; i < rule->actions.size(); ++i) {
      impl.queue(prepare(rule->actions[i], context),
                 i + 1 == rule->actions.size() ? std::move(output.body) : output.body, shared);
    }
  }
}

EngineCounters RuleEngine::counters() const {
  const Impl& i = *impl_;
  return EngineCounters{i.ignored_depth.get(), i.matched.get(),        i.succeeded.get(),
                        i.failed.get(),        i.dropped.get(),        i.error_succeeded.get(),
                        i.error_failed.get(),  i.not_loaded.get()};
}

std::string RuleEngine::metricsText() const {
  EngineCounters c = counters();
  std::string out;
  auto counter = [&out](std::string_view name, std::string_view help, std::uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, value);
  };
  counter("fleetgate_rules_matched_total",
          "Messages a topic rule matched (FROM and WHERE), counted once per rule.",
          c.rules_matched);
  out += "# HELP fleetgate_rules_actions_total Rule actions by outcome.\n"
         "# TYPE fleetgate_rules_actions_total counter\n";
  out += fmt::format("fleetgate_rules_actions_total{{outcome=\"succeeded\"}} {}\n",
                     c.actions_succeeded);
  out += fmt::format("fleetgate_rules_actions_total{{outcome=\"failed\"}} {}\n", c.actions_failed);
  out += fmt::format("fleetgate_rules_actions_total{{outcome=\"dropped\"}} {}\n",
                     c.actions_dropped);
  out += "# HELP fleetgate_rules_error_actions_total Error actions by outcome.\n"
         "# TYPE fleetgate_rules_error_actions_total counter\n";
  out += fmt::format("fleetgate_rules_error_actions_total{{outcome=\"succeeded\"}} {}\n",
                     c.error_actions_succeeded);
  out += fmt::format("fleetgate_rules_error_actions_total{{outcome=\"failed\"}} {}\n",
                     c.error_actions_failed);
  counter("fleetgate_rules_loop_drops_total",
          "Messages ignored by the rules because republish hops reached the depth limit.",
          c.messages_ignored_depth);
  counter("fleetgate_rules_not_loaded_total", "Stored rules that did not compile when loaded.",
          c.rules_not_loaded);
  return out;
}

bool RuleEngine::waitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->idle_mutex);
  return impl_->idle.wait_for(lock, timeout, [this] {
    return impl_->pending.load() == 0 || impl_->stopped.load();
  });
}

}  // namespace fleetgate::rules
