#include "api/control_plane.h"

#include <spdlog/spdlog.h>

#include "api/routes.h"
#include "common/encoding.h"
#include "sigv4/sigv4.h"

namespace fleetgate::api {
namespace {

// Query parameters, percent-decoded. A repeated name keeps its first value.
Result<std::map<std::string, std::string>> parseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percentDecode(pair.substr(0, eq));
    auto value = percentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!key || !value) return Error(ErrorKind::kInvalidRequest, "The query string is not valid.");
    out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

}  // namespace

ControlPlane::ControlPlane(registry::Registry& registry, registry::EventBus& events,
                           const Clock& clock, Random& random, ControlPlaneOptions options)
    : registry_(registry), clock_(clock), random_(random), options_(std::move(options)) {
  addThingRoutes(router_, registry_);
  addCertificateRoutes(router_, registry_);
  addPolicyRoutes(router_, registry_);
  addProvisioningTemplateRoutes(router_, registry_);
  addTopicRuleRoutes(router_, registry_);
  addEndpointRoutes(router_, options_.domain);
  events.subscribe([this](const registry::Event& e) {
    if (e.resource != registry::EventResource::kAccount) return;
    std::lock_guard lock(keys_mutex_);
    keys_.clear();
  });
}

std::optional<registry::AccessKey> ControlPlane::accessKey(std::string_view access_key_id) {
  {
    std::lock_guard lock(keys_mutex_);
    if (auto it = keys_.find(std::string(access_key_id)); it != keys_.end()) return it->second;
  }
  auto found = registry_.findAccessKey(access_key_id);
  if (!found.ok() || !found.value()) return std::nullopt;
  std::lock_guard lock(keys_mutex_);
  if (keys_.size() > 10'000) keys_.clear();  // bounded: unknown ids are not cached anyway
  keys_.emplace(std::string(access_key_id), *found.value());
  return *found.value();
}

Result<registry::Account> ControlPlane::authenticate(const http::Request& request) {
  std::optional<registry::AccessKey> key;
  sigv4::Request signed_request{request.method, request.path, request.query, request.headers,
                                request.body};
  FG_ASSIGN_OR_RETURN(
      auto identity,
      sigv4::verify(
          signed_request,
          [&](std::string_view id) -> std::optional<std::string> {
            key = accessKey(id);
            if (!key) return std::nullopt;
            return key->secret_access_key;
          },
          clock_.now()));
  // sigv4::verify leaves the scope's region to the caller: it must be the account's own.
  if (identity.region != key->account.region) {
    return Error(ErrorKind::kInvalidSignature,
                 "Credential should be scoped to a valid region, not '" + identity.region + "'.");
  }
  return key->account;
}

http::Response ControlPlane::handle(const http::Request& request) {
  auto account = authenticate(request);
  if (!account.ok()) return errorResponse(account.error());
  return dispatch(request, std::move(account).value());
}

http::Response ControlPlane::dispatch(const http::Request& request, registry::Account account) {
  // Raw paths that differ only in dot or empty segments carry the same signature; only the
  // normal form is routed, so a signature always names exactly one resource.
  if (sigv4::normalizePath(request.path) != request.path) {
    return errorResponse(Error(ErrorKind::kInvalidRequest, "The request path is not normalized."));
  }
  auto match = router_.match(request.method, request.path);
  if (!match.ok()) return errorResponse(match.error());
  auto query = parseQuery(request.query);
  if (!query.ok()) return errorResponse(query.error());

  ApiRequest api_request(request, std::move(account), std::move(match->params),
                         std::move(query).value());
  Result<Json> result = match->route->handler(api_request);
  if (!result.ok()) {
    const Error& e = result.error();
    // Client mistakes are routine; only our own failures deserve attention in the log.
    if (e.httpStatus() >= 500) {
      spdlog::error("{} failed: {} ({})", match->route->operation, e.name(), e.cause());
    } else if (!e.cause().empty()) {
      spdlog::debug("{} refused: {} ({})", match->route->operation, e.name(), e.cause());
    }
    return errorResponse(e);
  }
  http::Response response;
  response.headers.emplace_back("x-amzn-RequestId", random_.uuid());
  if (!result->is_null()) response.body = result->dump(-1, ' ', false, Json::error_handler_t::replace);
  return response;
}

http::Response ControlPlane::errorResponse(const Error& error) {
  http::Response response;
  response.status = error.httpStatus();
  std::string request_id = random_.uuid();
  response.headers.emplace_back("x-amzn-ErrorType", std::string(error.name()) + ":");
  response.headers.emplace_back("x-amzn-RequestId", request_id);
  Json body{{"message", error.message()}, {"traceId", request_id}};
  if (!error.resourceId().empty()) body["resourceId"] = error.resourceId();
  if (!error.resourceArn().empty()) body["resourceArn"] = error.resourceArn();
  response.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return response;
}

}  // namespace fleetgate::api
