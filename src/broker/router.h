#pragma once

// The subscriptions of one worker's sessions and the fan-out over them, without I/O: which
// sessions a PUBLISH reaches, once each, with the options of all their matching filters merged
// (MQTT 5 §3.3.4). Whether a session may receive it is the delivery's business, decided when
// it is written (mqtt::ReceiveGate).

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/session_record.h"
#include "mqtt/topic_tree.h"

namespace fleetgate::broker {

class Router {
 public:
  // `event_subscriptions` counts subscriptions to `$aws/events/...` across every worker, so
  // lifecycle events are built only while someone could receive them.
  explicit Router(std::atomic<std::int64_t>& event_subscriptions)
      : event_subscriptions_(event_subscriptions) {}
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // A session must be known to the router before it subscribes, and forgotten after its
  // subscriptions are removed.
  void add(SessionRecord& s) { sessions_[s.id] = &s; }
  void forget(SessionRecord& s);

  // Records the subscription in the session and the tree. True when the filter is new for the
  // session, false when its options were replaced.
  bool subscribe(SessionRecord& s, const std::string& filter, const mqtt::SubscribeOptions& options);
  // False when the session held no such subscription.
  bool unsubscribe(SessionRecord& s, std::string_view filter);
  // Ends every subscription of `s` for whose filter keep(filter) is false.
  template <typename Keep>
  void prune(SessionRecord& s, Keep&& keep) {
    auto& subscriptions = s.state->subscriptions;
    for (auto it = subscriptions.begin(); it != subscriptions.end();) {
      if (keep(it->first)) {
        ++it;
      } else {
        removeFromTree(s, it->first);
        it = subscriptions.erase(it);
      }
    }
  }

  // Calls visit(SessionRecord&, const mqtt::SubscribeOptions&) once for every session with a
  // filter matching `topic`, with the highest QoS its filters grant; no_local holds only if it
  // holds for all of them, retain_as_published if it holds for one.
  template <typename Visit>
  void match(const std::string& account_id, std::string_view topic, Visit&& visit) {
    collect(account_id, topic);
    for (const Match& m : matches_) visit(*m.session, m.options);
  }

 private:
  struct Match {
    SessionRecord* session;
    mqtt::SubscribeOptions options;
  };
  void collect(const std::string& account_id, std::string_view topic);
  void removeFromTree(SessionRecord& s, const std::string& filter);
  void counted(std::string_view filter, int delta);

  std::atomic<std::int64_t>& event_subscriptions_;
  std::unordered_map<std::string, mqtt::TopicTree> trees_;  // per account
  std::unordered_map<mqtt::SubscriberId, SessionRecord*> sessions_;
  // Scratch reused across calls, so steady-state routing does not allocate.
  std::vector<mqtt::TreeEntry> entries_;
  std::vector<Match> matches_;
};

}  // namespace fleetgate::broker
