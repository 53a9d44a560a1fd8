// Input: "<client id>\n<topic>\n<policy document>". The document is parsed, compiled against a
// connection whose client id, thing name and certificate CN are the client id, then checked for
// every action against the topic. Besides not crashing, the evaluator's invariants must hold.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/document.h"
#include "policy/evaluator.h"

namespace {

constexpr std::string_view kRegion = "eu-west-1";
constexpr std::string_view kAccount = "123456789012";

std::string_view nextLine(std::string_view& input) {
  std::size_t end = input.find('\n');
  std::string_view line = input.substr(0, end);
  input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace policy = fleetgate::policy;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view client_id = nextLine(input);
  std::string_view topic = nextLine(input);
  auto document = policy::parseDocument(input);
  if (!document.ok()) return 0;

  policy::ConnectionContext context;
  context.client_id = std::string(client_id);
  context.source_ip = "2001:db8::1";
  context.thing = policy::ThingContext{std::string(client_id), "type", {{"a", "b"}}, true};
  policy::addCertificateAttribute(context.subject, "CN", std::string(client_id));
  policy::addCertificateAttribute(context.subject, "OU", std::string(topic));
  context.last_will_topic = std::string(topic);

  std::vector<policy::Document> documents = {*document};
  policy::CompiledPolicy compiled =
      policy::CompiledPolicy::compile(documents, context, kRegion, kAccount);
  // "Deny wins": adding a deny-everything document must turn every Allow into an explicit deny.
  documents.push_back(*policy::parseDocument(
      R"({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
          "Resource": "*"}]})"));
  policy::CompiledPolicy denied =
      policy::CompiledPolicy::compile(documents, context, kRegion, kAccount);

  const struct {
    policy::Action action;
    policy::ResourceKind kind;
  } kChecks[] = {
      {policy::Action::kConnect, policy::ResourceKind::kClient},
      {policy::Action::kPublish, policy::ResourceKind::kTopic},
      {policy::Action::kSubscribe, policy::ResourceKind::kTopicFilter},
      {policy::Action::kReceive, policy::ResourceKind::kTopic},
      {policy::Action::kRetainPublish, policy::ResourceKind::kTopic},
  };
  for (const auto& check : kChecks) {
    std::string_view name = check.kind == policy::ResourceKind::kClient ? client_id : topic;
    std::string arn = policy::resourceArn(check.kind, kRegion, kAccount, name);
    policy::Decision decision = compiled.check(check.action, arn);
    // The split form must agree with the full ARN.
    if (compiled.check(check.action, check.kind, name) != decision) __builtin_trap();
    if (denied.check(check.action, arn) != policy::Decision::kExplicitDeny) __builtin_trap();
  }
  return 0;
}
