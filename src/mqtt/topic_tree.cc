#include "mqtt/topic_tree.h"

#include <algorithm>

namespace fleetgate::mqtt {
namespace {

struct LevelHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Splits off the level that starts at `pos`; `next` becomes npos after the last level.
std::string_view levelAt(std::string_view text, std::size_t pos, std::size_t& next) {
  const std::size_t end = text.find('/', pos);
  next = end == std::string_view::npos ? std::string_view::npos : end + 1;
  return text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
}

}  // namespace

struct TopicTree::Node {
  // Literal levels. Heterogeneous lookup lets collect() probe with a string_view.
  std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>> children;
  std::unique_ptr<Node> plus;
  std::unique_ptr<Node> hash;  // always a leaf: `#` is the last level
  std::vector<TreeEntry> entries;

  bool empty() const { return children.empty() && !plus && !hash && entries.empty(); }
};

TopicTree::TopicTree() : root_(std::make_unique<Node>()) {}
TopicTree::~TopicTree() = default;

bool TopicTree::add(std::string_view filter, SubscriberId subscriber,
                    const SubscribeOptions& options) {
  Node* node = root_.get();
  std::size_t pos = 0;
  while (pos != std::string_view::npos) {
    std::size_t next = 0;
    const std::string_view level = levelAt(filter, pos, next);
    std::unique_ptr<Node>* slot = nullptr;
    if (level == "+") {
      slot = &node->plus;
    } else if (level == "#") {
      slot = &node->hash;
    } else {
      auto it = node->children.find(level);
      if (it == node->children.end()) {
        it = node->children.emplace(std::string(level), nullptr).first;
      }
      slot = &it->second;
    }
    if (!*slot) *slot = std::make_unique<Node>();
    node = slot->get();
    pos = next;
  }
  for (TreeEntry& entry : node->entries) {
    if (entry.subscriber == subscriber) {
      entry.options = options;
      return false;
    }
  }
  node->entries.push_back(TreeEntry{subscriber, options});
  ++size_;
  return true;
}

namespace {

// Recursive so that emptied nodes are pruned on the way back up.
template <typename NodeT>
bool removeFrom(NodeT& node, std::string_view filter, std::size_t pos, SubscriberId subscriber) {
  if (pos == std::string_view::npos) {
    auto it = std::find_if(node.entries.begin(), node.entries.end(),
                           [&](const TreeEntry& e) { return e.subscriber == subscriber; });
    if (it == node.entries.end()) return false;
    node.entries.erase(it);
    return true;
  }
  std::size_t next = 0;
  const std::string_view level = levelAt(filter, pos, next);
  auto descend = [&](std::unique_ptr<NodeT>& child) {
    if (!child || !removeFrom(*child, filter, next, subscriber)) return false;
    if (child->empty()) child.reset();
    return true;
  };
  if (level == "+") return descend(node.plus);
  if (level == "#") return descend(node.hash);
  auto it = node.children.find(level);
  if (it == node.children.end()) return false;
  if (!descend(it->second)) return false;
  if (!it->second) node.children.erase(it);
  return true;
}

template <typename NodeT, typename Visit>
void walk(const NodeT& node, std::string_view topic, std::size_t pos, bool root, Visit& visit) {
  if (pos == std::string_view::npos) {
    for (const TreeEntry& e : node.entries) visit(e);
    // `a/#` also matches `a` (MQTT §4.7.1.2).
    if (node.hash) {
      for (const TreeEntry& e : node.hash->entries) visit(e);
    }
    return;
  }
  // MQTT §4.7.2: wildcards at the first level do not match topics starting with '$'.
  const bool wildcards = !(root && topic[0] == '$');
  if (wildcards && node.hash) {
    for (const TreeEntry& e : node.hash->entries) visit(e);
  }
  std::size_t next = 0;
  const std::string_view level = levelAt(topic, pos, next);
  auto it = node.children.find(level);
  if (it != node.children.end()) walk(*it->second, topic, next, false, visit);
  if (wildcards && node.plus) walk(*node.plus, topic, next, false, visit);
}

}  // namespace

bool TopicTree::remove(std::string_view filter, SubscriberId subscriber) {
  if (!removeFrom(*root_, filter, 0, subscriber)) return false;
  --size_;
  return true;
}

void TopicTree::collectImpl(std::string_view topic, FunctionRef visit) const {
  if (topic.empty()) return;
  walk(*root_, topic, 0, true, visit);
}

}  // namespace fleetgate::mqtt
