#pragma once

// The sessions of one worker, without I/O and with time passed in: which session a CONNECT
// gets (a new one, the stored one, or a fresh one because the stored one belongs to another
// certificate), what happens to it when its connection ends, when an offline session expires,
// what an offline session keeps, and the lifecycle versionNumber of each client id (spec §9.3,
// §9.6).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/router.h"
#include "broker/session_record.h"

namespace fleetgate::broker {

class SessionTable {
 public:
  // Session ids are `n * id_stride + id_offset`, unique across the workers that share a stride.
  SessionTable(Router& router, std::uint64_t id_offset, std::uint64_t id_stride,
               std::size_t max_offline_messages)
      : router_(router),
        id_offset_(id_offset),
        id_stride_(id_stride),
        max_offline_messages_(max_offline_messages) {}
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  SessionRecord* find(std::string_view account_id, std::string_view client_id);

  struct Request {
    std::string account_id;
    std::string region;
    std::string client_id;
    std::shared_ptr<const Identity> identity;
    std::shared_ptr<const policy::CompiledPolicy> policy;
    bool clean_start = true;
    std::uint32_t expiry_seconds = 0;
  };
  struct Opened {
    SessionRecord* session;
    bool present;  // CONNACK sessionPresent: the stored session was resumed
  };
  // The session for a CONNECT whose client id no connection holds any more (the caller ends a
  // connection that still does first). The stored session is resumed unless the CONNECT asks
  // for a clean start or comes from another certificate: a session belongs to the certificate
  // that made it. A resumed session loses the subscriptions its current policy refuses.
  Opened open(Request request);
  // Ends the subscriptions of `s` that s.policy no longer allows.
  void prune(SessionRecord& s);

  // The connection of `s` ended: a session without expiry ends with it; a persistent one waits,
  // keeping at most max_offline_messages. Returns how many queued messages were dropped.
  std::size_t detach(SessionRecord& s, SteadyTime now);
  // Offline QoS 1 for `s` (spec §9.3); false when the oldest was dropped to make room.
  bool queueOffline(SessionRecord& s, mqtt::Delivery delivery);
  // Ends the sessions that have been offline longer than their expiry. Returns how many.
  std::size_t expire(SteadyTime now);
  void destroy(SessionRecord& s);

  // The lifecycle versionNumber of this connect of the client id: one more than the last, back
  // to 1 after an hour without a connection (spec §9.6).
  std::int64_t nextVersion(std::string_view account_id, std::string_view client_id,
                           SteadyTime now);

  // The sessions of an account, online and offline.
  std::vector<SessionRecord*> ofAccount(std::string_view account_id) const;
  std::size_t size() const { return sessions_.size(); }

  // One string per (account, client id): the key of a session, and what picks its worker.
  static std::string key(std::string_view account_id, std::string_view client_id);

 private:
  Router& router_;
  const std::uint64_t id_offset_;
  const std::uint64_t id_stride_;
  const std::size_t max_offline_messages_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::unique_ptr<SessionRecord>> sessions_;
  struct Version {
    std::int64_t number = 0;
    SteadyTime last_seen{};
  };
  std::unordered_map<std::string, Version> versions_;
};

}  // namespace fleetgate::broker
