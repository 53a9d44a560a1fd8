#include "broker/router.h"

#include <algorithm>

namespace fleetgate::broker {

namespace {

bool isEventFilter(std::string_view filter) { return filter.starts_with("$aws/events/"); }

}  // namespace

void Router::counted(std::string_view filter, int delta) {
  if (isEventFilter(filter)) event_subscriptions_.fetch_add(delta, std::memory_order_relaxed);
}

void Router::forget(SessionRecord& s) {
  prune(s, [](const std::string&) { return false; });
  sessions_.erase(s.id);
}

bool Router::subscribe(SessionRecord& s, const std::string& filter,
                       const mqtt::SubscribeOptions& options) {
  const bool added = trees_[s.account_id].add(filter, s.id, options);
  if (added) counted(filter, +1);
  s.state->subscriptions[filter] = options;
  return added;
}

bool Router::unsubscribe(SessionRecord& s, std::string_view filter) {
  auto it = s.state->subscriptions.find(filter);
  if (it == s.state->subscriptions.end()) return false;
  removeFromTree(s, it->first);
  s.state->subscriptions.erase(it);
  return true;
}

void Router::removeFromTree(SessionRecord& s, const std::string& filter) {
  auto tree = trees_.find(s.account_id);
  if (tree != trees_.end() && tree->second.remove(filter, s.id)) counted(filter, -1);
}

void Router::collect(const std::string& account_id, std::string_view topic) {
  matches_.clear();
  auto tree = trees_.find(account_id);
  if (tree == trees_.end()) return;
  entries_.clear();
  tree->second.collect(topic, [this](const mqtt::TreeEntry& e) { entries_.push_back(e); });
  std::sort(entries_.begin(), entries_.end(),
            [](const mqtt::TreeEntry& a, const mqtt::TreeEntry& b) {
              return a.subscriber < b.subscriber;
            });
  for (std::size_t i = 0; i < entries_.size();) {
    const mqtt::SubscriberId id = entries_[i].subscriber;
    mqtt::SubscribeOptions options = entries_[i].options;
    for (++i; i < entries_.size() && entries_[i].subscriber == id; ++i) {
      options.qos = std::max(options.qos, entries_[i].options.qos);
      options.no_local = options.no_local && entries_[i].options.no_local;
      options.retain_as_published =
          options.retain_as_published || entries_[i].options.retain_as_published;
    }
    auto found = sessions_.find(id);
    if (found != sessions_.end()) matches_.push_back(Match{found->second, options});
  }
}

}  // namespace fleetgate::broker
