// Input: a policy document. Besides not crashing, an accepted document must satisfy the
// invariants the evaluator will rely on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/document.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace policy = fleetgate::policy;
  std::string_view json(reinterpret_cast<const char*>(data), size);
  auto result = policy::parseDocument(json);
  if (!result.ok()) {
    if (result.error().kind() != fleetgate::ErrorKind::kMalformedPolicy) __builtin_trap();
    return 0;
  }
  if (result->statements.empty()) __builtin_trap();
  if (policy::countPolicyCharacters(json) > policy::kMaxCharacters) __builtin_trap();
  for (const policy::Statement& statement : result->statements) {
    if (statement.actions.empty() || statement.resources.empty()) __builtin_trap();
    for (const policy::Condition& condition : statement.conditions) {
      if (condition.key.empty() || condition.values.empty()) __builtin_trap();
    }
  }
  return 0;
}
