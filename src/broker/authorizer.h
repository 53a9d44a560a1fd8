#pragma once

// Decides whether a TLS-authenticated client may connect, and compiles the IoT policies its
// requests are checked against (spec §8): the certificate must be registered in the account the
// client addresses, ACTIVE and inside its validity dates; the policies attached to it (and to the
// thing groups of the thing it connects as) must allow iot:Connect and the will's publish.
// Registry reads are cached per principal and dropped on every registry event that could change
// an answer.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "broker/metrics.h"
#include "common/clock.h"
#include "mqtt/packet.h"
#include "pki/tls.h"
#include "policy/evaluator.h"
#include "registry/certificate_index.h"
#include "registry/registry.h"

namespace fleetgate::broker {

struct Authorization {
  registry::Account account;
  std::optional<std::string> exclusive_thing;  // lifecycle events' thingName
  std::shared_ptr<const policy::CompiledPolicy> policy;
};

struct Refusal {
  Refusal(AuthFailure f, std::string why, std::optional<registry::Certificate> c = std::nullopt)
      : failure(f), detail(std::move(why)), certificate(std::move(c)) {}

  AuthFailure failure = AuthFailure::kServerError;
  std::string detail;  // for the log
  // kCertificateNotActive: the registration, whose PENDING_ACTIVATION status re-announces JITR.
  std::optional<registry::Certificate> certificate;
};

using AuthOutcome = std::variant<Authorization, Refusal>;

// Policy-variable context from what the TLS handshake established (certificate names, address).
policy::ConnectionContext connectionContext(const pki::PeerCertificateNames& names,
                                            std::string source_ip);

class Authorizer {
 public:
  // With `require_server_name`, a client must name its account's endpoint in SNI (as AWS
  // requires); otherwise clients without SNI, or naming a host outside the device endpoints,
  // address the default account.
  Authorizer(registry::Registry& registry, registry::CertificateIndex& certificates,
             const Clock& clock, std::string default_account_id, std::string domain,
             bool require_server_name = false);

  // `context` carries the client id, will topic and persistence of the CONNECT; `will` the will
  // itself when there is one.
  AuthOutcome authorize(const std::string& certificate_id, std::string_view server_name,
                        const policy::ConnectionContext& context, const mqtt::Will* will);

  // The account a connection addresses: the one whose device endpoint the SNI names. A name
  // under the device endpoints' domain that no account owns addresses none.
  std::optional<registry::Account> accountFor(std::string_view server_name);

  // Forgets cached registry answers the event may change. Returns true when live connections
  // must be re-authorized.
  bool onRegistryEvent(const registry::Event& event);

 private:
  struct Principal {
    std::vector<policy::Document> documents;
    // Compiled once for every connection when no document uses a variable or a condition.
    std::shared_ptr<const policy::CompiledPolicy> shared;
    struct Thing {
      policy::ThingContext context;
      bool exclusive = false;
      std::vector<policy::Document> group_documents;
      std::shared_ptr<const policy::CompiledPolicy> shared;  // certificate + group documents
    };
    std::vector<Thing> things;
  };

  Status loadAccounts();  // with mutex_ held
  Result<std::shared_ptr<const Principal>> principal(const registry::Account& account,
                                                     const std::string& certificate_id);

  registry::Registry& registry_;
  registry::CertificateIndex& certificates_;
  const Clock& clock_;
  const std::string default_account_id_;
  const std::string domain_;
  const bool require_server_name_;

  std::mutex mutex_;
  bool accounts_loaded_ = false;
  // Accounts made by another process (`fleetgate account create`) send no event here: an unknown
  // endpoint reloads them, at most once a second.
  TimePoint accounts_loaded_at_{};
  std::unordered_map<std::string, registry::Account> accounts_by_endpoint_;
  std::optional<registry::Account> default_account_;
  std::unordered_map<std::string, std::shared_ptr<const Principal>> principals_;
  std::uint64_t generation_ = 0;  // a load that raced with an invalidation is not cached
};

}  // namespace fleetgate::broker
