#pragma once

// Subscriptions of all sessions, indexed by filter level so that routing a PUBLISH costs the
// number of matching branches, not the number of subscriptions.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/packet.h"

namespace fleetgate::mqtt {

using SubscriberId = std::uint64_t;

struct TreeEntry {
  SubscriberId subscriber = 0;
  SubscribeOptions options;
};

class TopicTree {
 public:
  TopicTree();
  ~TopicTree();
  TopicTree(const TopicTree&) = delete;
  TopicTree& operator=(const TopicTree&) = delete;

  // `filter` must satisfy isValidTopicFilter. Returns true when the subscriber was new for this
  // filter, false when its options were replaced (MQTT: a repeated SUBSCRIBE replaces).
  bool add(std::string_view filter, SubscriberId subscriber, const SubscribeOptions& options);
  // Returns whether the subscription existed. Empty branches are pruned.
  bool remove(std::string_view filter, SubscriberId subscriber);

  // Calls visit(const TreeEntry&) for every subscription whose filter matches `topic` (a valid
  // topic name). A subscriber with several matching filters is visited once per filter: whether
  // to deliver once or per subscription is the broker's choice (MQTT 5 §4.7). Allocates nothing;
  // recursion depth is the number of topic levels.
  template <typename Visit>
  void collect(std::string_view topic, Visit&& visit) const {
    collectImpl(topic, FunctionRef(visit));
  }

  std::size_t size() const { return size_; }

 private:
  struct Node;
  // A non-owning callable reference, so collect() needs neither a template body in the .cc
  // file nor a std::function allocation.
  class FunctionRef {
   public:
    template <typename F>
    explicit FunctionRef(F& f)
        : object_(&f), call_([](void* o, const TreeEntry& e) { (*static_cast<F*>(o))(e); }) {}
    void operator()(const TreeEntry& e) const { call_(object_, e); }

   private:
    void* object_;
    void (*call_)(void*, const TreeEntry&);
  };

  void collectImpl(std::string_view topic, FunctionRef visit) const;

  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
};

}  // namespace fleetgate::mqtt
