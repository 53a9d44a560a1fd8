#include "registry/internal.h"

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

Error notFound(std::string_view what, std::string_view name) {
  return Error(ErrorKind::kResourceNotFound,
               std::string(what) + " " + std::string(name) + " does not exist");
}

}  // namespace fleetgate::registry::internal
