#pragma once

// Just-in-time provisioning and registration (spec §4, §5): what happens when a device presents a
// certificate its account does not know. If the certificate was issued by one of the account's
// CA certificates that is ACTIVE and allows auto-registration, it is registered: with the CA's
// provisioning template (JITP) the template runs and usually activates it; without one (JITR) it
// waits in PENDING_ACTIVATION for someone to activate it. Either way in one transaction.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "pki/certificate.h"
#include "registry/registry.h"

namespace fleetgate::provisioning {

// A device certificate no registration matched, as the TLS handshake delivered it.
struct UnknownDevice {
  registry::Account account;
  std::vector<std::string> chain_der;  // leaf first, as the device sent it
  bool sent_server_name = false;
};

struct AutoRegistration {
  enum class Outcome {
    kNotEligible,        // no ACTIVE auto-registration CA vouches for the certificate
    kFailed,             // eligible, but the template or the registry refused
    kProvisioned,        // JITP ran
    kPendingActivation,  // JITR registered it
  };
  Outcome outcome = Outcome::kNotEligible;
  std::string certificate_id;
  std::string ca_certificate_id;
  TimePoint registered_at{};
  std::string detail;   // why, for the log; never sent to the device
  bool shared = false;  // another connect of the same device did the work
};

class AutoRegistrar {
 public:
  AutoRegistrar(registry::Registry& registry, const Clock& clock);

  // Blocks on the registry; run it off an event loop. Concurrent calls for one certificate in
  // one account run it once and share the result.
  AutoRegistration run(const UnknownDevice& device);

 private:
  struct Flight {
    bool done = false;
    AutoRegistration result;
  };
  AutoRegistration attempt(const UnknownDevice& device, const pki::Certificate& leaf);

  registry::Registry& registry_;
  const Clock& clock_;
  std::mutex mutex_;
  std::condition_variable landed_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;  // by "<account>/<certificate id>"
};

// The template parameters JITP takes from the device certificate (spec §4.2).
std::map<std::string, std::string> certificateParameters(const pki::Certificate& certificate);

}  // namespace fleetgate::provisioning
