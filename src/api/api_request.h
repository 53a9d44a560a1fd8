#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "http/http_server.h"
#include "registry/model.h"

namespace fleetgate::api {

// One authenticated control-plane request as a handler sees it: the caller's account, the
// decoded path parameters and query, and typed access to the JSON body. Every accessor turns
// malformed input into InvalidRequestException naming the member.
class ApiRequest {
 public:
  ApiRequest(const http::Request& http, registry::Account account,
             std::map<std::string, std::string> path_params,
             std::map<std::string, std::string> query);

  const registry::Account& account() const { return account_; }
  const std::string& path(const std::string& name) const { return path_params_.at(name); }
  std::optional<std::string_view> header(std::string_view name) const { return http_.header(name); }

  std::optional<std::string> query(const std::string& name) const;
  Result<std::optional<bool>> queryBool(const std::string& name) const;
  Result<std::optional<std::int64_t>> queryInt(const std::string& name, std::int64_t min,
                                               std::int64_t max) const;

  // The body as a JSON object; an empty body is an empty object.
  Result<const nlohmann::json*> body();
  Result<std::optional<std::string>> bodyString(const std::string& name);
  Result<std::string> requiredBodyString(const std::string& name);
  Result<std::optional<bool>> bodyBool(const std::string& name);
  Result<std::optional<std::int64_t>> bodyInt(const std::string& name);
  Result<std::optional<nlohmann::json>> bodyObject(const std::string& name);

  // The paging members of a listing: token and limit query names, with the default limit.
  Result<registry::PageRequest> page(const std::string& token_name, const std::string& limit_name,
                                     int default_limit);

 private:
  const http::Request& http_;
  registry::Account account_;
  std::map<std::string, std::string> path_params_;
  std::map<std::string, std::string> query_;
  std::optional<nlohmann::json> body_;
};

// What a handler returns: a JSON document, or null for operations with no output.
using Json = nlohmann::json;

// Adds the continuation member ("nextToken" or "nextMarker") of a page when there is one.
template <typename T>
Json withToken(Json j, const registry::Page<T>& page, const char* token_name = "nextToken") {
  if (page.next) j[token_name] = *page.next;
  return j;
}

}  // namespace fleetgate::api
