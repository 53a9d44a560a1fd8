#include "registry/validation.h"

#include <cctype>
#include <string>

namespace fleetgate::registry {
namespace {

bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

template <typename Allowed>
Status checkName(std::string_view value, std::string_view field, std::size_t min, std::size_t max,
                 Allowed allowed) {
  if (value.size() < min || value.size() > max) {
    return Error(ErrorKind::kInvalidRequest, std::string(field) + " must be " +
                                                 std::to_string(min) + " to " +
                                                 std::to_string(max) + " characters long.");
  }
  for (char c : value) {
    if (!allowed(c)) {
      return Error(ErrorKind::kInvalidRequest,
                   std::string(field) + " contains a character that is not allowed.");
    }
  }
  return {};
}

}  // namespace

Status validateThingName(std::string_view name, std::string_view field) {
  return checkName(name, field, 1, 128,
                   [](char c) { return alnum(c) || c == ':' || c == '_' || c == '-'; });
}

Status validatePolicyName(std::string_view name) {
  return checkName(name, "policyName", 1, 128, [](char c) {
    return alnum(c) || c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' ||
           c == '-';
  });
}

Status validateTemplateName(std::string_view name) {
  return checkName(name, "templateName", 1, 36,
                   [](char c) { return alnum(c) || c == '_' || c == '-'; });
}

Status validateCertificateId(std::string_view id, std::string_view field) {
  return checkName(id, field, 64, 64, [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  });
}

Status validateAttributes(const Attributes& attributes) {
  for (const auto& [name, value] : attributes) {
    FG_RETURN_IF_ERROR(checkName(name, "attribute name", 1, 128, [](char c) {
      return alnum(c) || std::string_view("_.,@/:#-").find(c) != std::string_view::npos;
    }));
    FG_RETURN_IF_ERROR(checkName(value, "attribute value", 0, 800, [](char c) {
      return alnum(c) || std::string_view("_.,@/:#=[]-").find(c) != std::string_view::npos;
    }));
  }
  return {};
}

std::optional<Arn> parseArn(std::string_view arn) {
  constexpr std::string_view kPrefix = "arn:aws:iot:";
  if (arn.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = arn.substr(kPrefix.size());
  auto colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Arn out;
  out.region = std::string(rest.substr(0, colon));
  rest = rest.substr(colon + 1);
  colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  out.account = std::string(rest.substr(0, colon));
  rest = rest.substr(colon + 1);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return std::nullopt;
  out.kind = std::string(rest.substr(0, slash));
  out.name = std::string(rest.substr(slash + 1));
  return out;
}

}  // namespace fleetgate::registry
