// Input: a provisioning template body, preceded by up to one line of parameters
// ("name=value;name=value\n") and a first byte choosing the template kind. Besides not
// crashing, an accepted template must yield a plan the registry can apply without surprises.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "provisioning/template.h"

namespace {

std::map<std::string, std::string> parseParameters(std::string_view line) {
  std::map<std::string, std::string> out;
  while (!line.empty()) {
    auto end = line.find(';');
    std::string_view pair = line.substr(0, end);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos) out[std::string(pair.substr(0, eq))] = pair.substr(eq + 1);
    if (end == std::string_view::npos) break;
    line.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetgate;
  using provisioning::TemplateKind;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return 0;
  const TemplateKind kind = input[0] == 'J'   ? TemplateKind::kJitp
                            : input[0] == 'F' ? TemplateKind::kFleetProvisioning
                                              : TemplateKind::kRegisterThing;
  input.remove_prefix(1);
  std::map<std::string, std::string> parameters;
  if (auto newline = input.find('\n'); newline != std::string_view::npos) {
    parameters = parseParameters(input.substr(0, newline));
    input.remove_prefix(newline + 1);
  }
  auto plan = provisioning::evaluateTemplate(input, parameters, kind);
  if (!plan.ok()) {
    ErrorKind k = plan.error().kind();
    if (k != ErrorKind::kInvalidRequest && k != ErrorKind::kResourceRegistrationFailure) {
      __builtin_trap();
    }
    if (plan.error().message().empty()) __builtin_trap();
    return 0;
  }
  if (input.size() > 10240) __builtin_trap();
  if (plan->certificate && kind != TemplateKind::kRegisterThing &&
      plan->certificate->source != registry::PlannedCertificate::Source::kId) {
    __builtin_trap();
  }
  if (plan->certificate && plan->certificate->status != registry::CertificateStatus::kActive &&
      plan->certificate->status != registry::CertificateStatus::kInactive) {
    __builtin_trap();
  }
  for (const auto& policy : plan->policies) {
    if (policy.name.empty() && !policy.document) __builtin_trap();
  }
  return 0;
}
