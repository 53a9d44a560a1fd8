#include "broker/reserved_topics.h"

#include <array>

namespace fleetgate::broker {
namespace {

struct Levels {
  std::array<std::string_view, 3> first{};  // the first three levels ("" when absent)
};

Levels split(std::string_view topic) {
  Levels levels;
  for (std::size_t i = 0; i < levels.first.size(); ++i) {
    const std::size_t slash = topic.find('/');
    levels.first[i] = topic.substr(0, slash);
    if (slash == std::string_view::npos) break;
    topic.remove_prefix(slash + 1);
  }
  return levels;
}

bool isConcrete(std::string_view level) { return !level.empty() && level != "+" && level != "#"; }

// `$aws/things/<thing>/{shadow,jobs,tunnels,defender}/...`, the fleet provisioning APIs
// (`$aws/certificates/create...`, `$aws/provisioning-templates/...`).
bool isDeviceApi(std::string_view topic) {
  const Levels l = split(topic);
  if (l.first[0] != "$aws") return false;
  if (l.first[1] == "things") {
    if (l.first[2].empty()) return false;  // `+` is fine: a service watching every thing
    const std::string_view rest = topic.substr(std::string_view("$aws/things/").size() +
                                               l.first[2].size());
    return rest.starts_with("/shadow/") || rest.starts_with("/jobs/") ||
           rest.starts_with("/tunnels/") || rest.starts_with("/defender/");
  }
  if (l.first[1] == "certificates") {
    return l.first[2] == "create" || l.first[2] == "create-from-csr";
  }
  return l.first[1] == "provisioning-templates" && isConcrete(l.first[2]);
}

}  // namespace

bool isBasicIngest(std::string_view topic) {
  const Levels l = split(topic);
  return l.first[0] == "$aws" && l.first[1] == "rules" && isConcrete(l.first[2]) &&
         topic.size() > std::string_view("$aws/rules/").size() + l.first[2].size() + 1;
}

bool clientMayPublish(std::string_view topic) {
  if (!topic.starts_with('$')) return true;
  return isDeviceApi(topic) || isBasicIngest(topic);
}

bool clientMaySubscribe(std::string_view filter) {
  if (!filter.starts_with('$')) return true;
  const Levels l = split(filter);
  // Lifecycle and registry events are published by the broker for subscribers to read.
  if (l.first[0] == "$aws" && l.first[1] == "events") return true;
  return isDeviceApi(filter);
}

}  // namespace fleetgate::broker
