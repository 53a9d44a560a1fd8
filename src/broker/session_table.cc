#include "broker/session_table.h"

namespace fleetgate::broker {

using policy::Action;
using policy::ResourceKind;

std::string SessionTable::key(std::string_view account_id, std::string_view client_id) {
  std::string k(account_id);
  k.push_back('\n');
  k.append(client_id);
  return k;
}

SessionRecord* SessionTable::find(std::string_view account_id, std::string_view client_id) {
  auto it = sessions_.find(key(account_id, client_id));
  return it == sessions_.end() ? nullptr : it->second.get();
}

SessionTable::Opened SessionTable::open(Request request) {
  SessionRecord* s = find(request.account_id, request.client_id);
  if (s != nullptr &&
      (request.clean_start || s->identity->certificate_id != request.identity->certificate_id)) {
    destroy(*s);
    s = nullptr;
  }
  const bool present = s != nullptr;
  if (!present) {
    auto record = std::make_unique<SessionRecord>();
    record->account_id = request.account_id;
    record->region = request.region;
    record->client_id = request.client_id;
    record->id = next_id_++ * id_stride_ + id_offset_;
    record->state = std::make_shared<mqtt::Session>();
    s = record.get();
    router_.add(*s);
    sessions_[key(request.account_id, request.client_id)] = std::move(record);
  }
  s->identity = std::move(request.identity);
  s->policy = std::move(request.policy);
  s->expiry_seconds = request.expiry_seconds;
  if (present) prune(*s);  // the policy may have narrowed while the session was away
  return {s, present};
}

void SessionTable::prune(SessionRecord& s) {
  router_.prune(s, [&](const std::string& filter) {
    return s.policy != nullptr &&
           isAllowed(s.policy->check(Action::kSubscribe, ResourceKind::kTopicFilter, filter));
  });
}

std::size_t SessionTable::detach(SessionRecord& s, SteadyTime now) {
  s.client = nullptr;
  versions_[key(s.account_id, s.client_id)].last_seen = now;
  if (s.expiry_seconds == 0) {
    destroy(s);
    return 0;
  }
  s.offline_since = now;
  std::size_t dropped = 0;
  auto& queued = s.state->queued;
  while (queued.size() > max_offline_messages_) {
    queued.pop_front();
    ++dropped;
  }
  return dropped;
}

bool SessionTable::queueOffline(SessionRecord& s, mqtt::Delivery delivery) {
  auto& queued = s.state->queued;
  const bool full = queued.size() >= max_offline_messages_;
  if (full) queued.pop_front();
  queued.push_back(std::move(delivery));
  return !full;
}

std::size_t SessionTable::expire(SteadyTime now) {
  std::vector<SessionRecord*> ended;
  for (const auto& [k, s] : sessions_) {
    if (s->client == nullptr && now - s->offline_since > std::chrono::seconds(s->expiry_seconds)) {
      ended.push_back(s.get());
    }
  }
  for (SessionRecord* s : ended) destroy(*s);
  std::erase_if(versions_, [&](const auto& entry) {
    return now - entry.second.last_seen > std::chrono::hours(1) && !sessions_.contains(entry.first);
  });
  return ended.size();
}

void SessionTable::destroy(SessionRecord& s) {
  router_.forget(s);
  sessions_.erase(key(s.account_id, s.client_id));  // destroys s
}

std::int64_t SessionTable::nextVersion(std::string_view account_id, std::string_view client_id,
                                       SteadyTime now) {
  Version& version = versions_[key(account_id, client_id)];
  if (now - version.last_seen > std::chrono::hours(1)) version.number = 0;
  version.last_seen = now;
  return ++version.number;
}

std::vector<SessionRecord*> SessionTable::ofAccount(std::string_view account_id) const {
  std::vector<SessionRecord*> out;
  for (const auto& [k, s] : sessions_) {
    if (s->account_id == account_id) out.push_back(s.get());
  }
  return out;
}

}  // namespace fleetgate::broker
