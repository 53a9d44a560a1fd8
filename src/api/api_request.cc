#include "api/api_request.h"

#include <charconv>

namespace fleetgate::api {
namespace {

Error invalidMember(const std::string& name, std::string_view expected) {
  return Error(ErrorKind::kInvalidRequest,
               "Member " + name + " must be " + std::string(expected) + ".");
}

}  // namespace

ApiRequest::ApiRequest(const http::Request& http, registry::Account account,
                       std::map<std::string, std::string> path_params,
                       std::map<std::string, std::string> query)
    : http_(http),
      account_(std::move(account)),
      path_params_(std::move(path_params)),
      query_(std::move(query)) {}

std::optional<std::string> ApiRequest::query(const std::string& name) const {
  auto it = query_.find(name);
  if (it == query_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<bool>> ApiRequest::queryBool(const std::string& name) const {
  auto value = query(name);
  if (!value) return std::optional<bool>();
  if (*value == "true") return std::optional<bool>(true);
  if (*value == "false") return std::optional<bool>(false);
  return invalidMember(name, "true or false");
}

Result<std::optional<std::int64_t>> ApiRequest::queryInt(const std::string& name, std::int64_t min,
                                                         std::int64_t max) const {
  auto value = query(name);
  if (!value) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size() || n < min || n > max) {
    return invalidMember(name, "an integer from " + std::to_string(min) + " to " +
                                   std::to_string(max));
  }
  return std::optional<std::int64_t>(n);
}

Result<const nlohmann::json*> ApiRequest::body() {
  if (!body_) {
    if (http_.body.empty()) {
      body_ = nlohmann::json::object();
    } else {
      auto parsed = nlohmann::json::parse(http_.body, nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        return Error(ErrorKind::kInvalidRequest, "The request body is not a JSON object.");
      }
      body_ = std::move(parsed);
    }
  }
  return &*body_;
}

Result<std::optional<std::string>> ApiRequest::bodyString(const std::string& name) {
  FG_ASSIGN_OR_RETURN(const nlohmann::json* doc, body());
  auto it = doc->find(name);
  if (it == doc->end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return invalidMember(name, "a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> ApiRequest::requiredBodyString(const std::string& name) {
  FG_ASSIGN_OR_RETURN(auto value, bodyString(name));
  if (!value) return Error(ErrorKind::kInvalidRequest, "Member " + name + " is required.");
  return *value;
}

Result<std::optional<bool>> ApiRequest::bodyBool(const std::string& name) {
  FG_ASSIGN_OR_RETURN(const nlohmann::json* doc, body());
  auto it = doc->find(name);
  if (it == doc->end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return invalidMember(name, "a boolean");
  return std::optional<bool>(it->get<bool>());
}

Result<std::optional<std::int64_t>> ApiRequest::bodyInt(const std::string& name) {
  FG_ASSIGN_OR_RETURN(const nlohmann::json* doc, body());
  auto it = doc->find(name);
  if (it == doc->end() || it->is_null()) return std::optional<std::int64_t>();
  if (!it->is_number_integer()) return invalidMember(name, "an integer");
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Result<std::optional<nlohmann::json>> ApiRequest::bodyObject(const std::string& name) {
  FG_ASSIGN_OR_RETURN(const nlohmann::json* doc, body());
  auto it = doc->find(name);
  if (it == doc->end() || it->is_null()) return std::optional<nlohmann::json>();
  if (!it->is_object()) return invalidMember(name, "an object");
  return std::optional<nlohmann::json>(*it);
}

Result<registry::PageRequest> ApiRequest::page(const std::string& token_name,
                                               const std::string& limit_name, int default_limit) {
  registry::PageRequest page;
  page.token = query(token_name);
  if (page.token && page.token->size() > 1024) return invalidMember(token_name, "at most 1024 characters");
  FG_ASSIGN_OR_RETURN(auto limit, queryInt(limit_name, 1, 250));
  page.limit = limit ? static_cast<int>(*limit) : default_limit;
  FG_ASSIGN_OR_RETURN(auto ascending, queryBool("isAscendingOrder"));
  page.ascending = ascending.value_or(true);
  return page;
}

}  // namespace fleetgate::api
