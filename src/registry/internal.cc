#include "registry/internal.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace fleetgate::registry::internal {

std::string encodeAttributes(const Attributes& attributes) {
  return nlohmann::json(attributes).dump();
}

Attributes decodeAttributes(const std::string& json) {
  return nlohmann::json::parse(json, nullptr, false).get<Attributes>();
}

std::string encodeStrings(const std::vector<std::string>& values) {
  return nlohmann::json(values).dump();
}

std::vector<std::string> decodeStrings(const std::string& json) {
  return nlohmann::json::parse(json, nullptr, false).get<std::vector<std::string>>();
}

std::string encodeToken(const std::string& key) { return base64Encode(key); }

Result<std::string> decodeToken(const std::optional<std::string>& token) {
  if (!token) return std::string();
  auto key = base64Decode(*token);
  if (!key || key->empty()) {
    return Error(ErrorKind::kInvalidRequest, "The pagination token is invalid.");
  }
  return *key;
}

std::string creationKey(TimePoint created, const std::string& id) {
  return std::to_string(millis(created)) + ":" + id;
}

Result<std::pair<std::int64_t, std::string>> parseCreationKey(const std::string& key) {
  auto colon = key.find(':');
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(key.data(), key.data() + (colon == std::string::npos ? 0 : colon), ms);
  if (colon == std::string::npos || colon == 0 || ec != std::errc() || end != key.data() + colon) {
    return Error(ErrorKind::kInvalidRequest, "The marker is invalid.");
  }
  return std::make_pair(ms, key.substr(colon + 1));
}

Error notFound(std::string_view what, std::string_view name) {
  return Error(ErrorKind::kResourceNotFound,
               std::string(what) + " " + std::string(name) + " does not exist");
}

}  // namespace fleetgate::registry::internal
