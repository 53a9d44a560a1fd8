#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "api/router.h"
#include "common/clock.h"
#include "common/random.h"
#include "http/http_server.h"
#include "registry/registry.h"

namespace fleetgate::api {

struct ControlPlaneOptions {
  // Device endpoints are "<prefix>-ats.iot.<region>.<domain>" (DescribeEndpoint).
  std::string domain = "localhost";
};

// The AWS IoT control plane over HTTP: SigV4 authentication, routing to the registry, and
// AWS-shaped errors (x-amzn-ErrorType, {"message"}). Thread-safe.
class ControlPlane {
 public:
  ControlPlane(registry::Registry& registry, registry::EventBus& events, const Clock& clock,
               Random& random, ControlPlaneOptions options);

  http::Response handle(const http::Request& request);
  // Everything after authentication: routing, parsing, the operation, rendering.
  http::Response dispatch(const http::Request& request, registry::Account account);
  // The AWS error shape for a failure; also used by the HTTP server for refusals it makes.
  http::Response errorResponse(const Error& error);

 private:
  Result<registry::Account> authenticate(const http::Request& request);
  std::optional<registry::AccessKey> accessKey(std::string_view access_key_id);

  registry::Registry& registry_;
  const Clock& clock_;
  Random& random_;
  ControlPlaneOptions options_;
  Router router_;
  // Access keys change rarely; cached so SigV4 costs no database read per request.
  std::mutex keys_mutex_;
  std::unordered_map<std::string, registry::AccessKey> keys_;
};

}  // namespace fleetgate::api
