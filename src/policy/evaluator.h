#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/document.h"

// The IoT policy evaluator (spec §8): documents are compiled once per connection against what
// that connection is (client id, thing, certificate, source address), after which every
// CONNECT / PUBLISH / SUBSCRIBE / delivery is a read-only check over pre-split statements.
namespace fleetgate::policy {

// Data-plane actions (spec §8.2). kCount is not an action.
enum class Action : std::uint8_t {
  kConnect,
  kPublish,
  kSubscribe,
  kReceive,
  kRetainPublish,
  kGetRetainedMessage,
  kListRetainedMessages,
  kGetThingShadow,
  kUpdateThingShadow,
  kDeleteThingShadow,
  kListNamedShadowsForThing,
  kDescribeJobExecution,
  kGetPendingJobExecutions,
  kUpdateJobExecution,
  kStartNextPendingJobExecution,
  kAssumeRoleWithCertificate,
  kCount,
};
inline constexpr std::size_t kActionCount = static_cast<std::size_t>(Action::kCount);

// "iot:Publish" etc.
std::string_view actionName(Action action);

enum class Decision {
  kImplicitDeny,  // no statement allowed it
  kAllow,
  kExplicitDeny,  // a Deny statement matched; wins over every Allow
};
inline bool isAllowed(Decision decision) { return decision == Decision::kAllow; }

// Resource kinds of data-plane ARNs (spec §1.2 "Policy resources").
enum class ResourceKind : std::uint8_t { kClient, kTopic, kTopicFilter, kThing, kRoleAlias };

// "arn:aws:iot:<region>:<account>:<kind>/" — the part every resource of that kind shares.
std::string resourceArnPrefix(ResourceKind kind, std::string_view region, std::string_view account);
std::string resourceArn(ResourceKind kind, std::string_view region, std::string_view account,
                        std::string_view name);
inline std::string clientArn(std::string_view region, std::string_view account,
                             std::string_view client_id) {
  return resourceArn(ResourceKind::kClient, region, account, client_id);
}
inline std::string topicArn(std::string_view region, std::string_view account,
                            std::string_view topic) {
  return resourceArn(ResourceKind::kTopic, region, account, topic);
}
inline std::string topicFilterArn(std::string_view region, std::string_view account,
                                  std::string_view filter) {
  return resourceArn(ResourceKind::kTopicFilter, region, account, filter);
}
// Classic shadow when shadow_name is empty, else "thing/<thing>/<shadow>".
std::string thingArn(std::string_view region, std::string_view account, std::string_view thing,
                     std::string_view shadow_name = {});

// Multi-valued X.509 name attributes keyed by the §8.4 names ("CommonName", "Organization", ...;
// for alternative names "DNSName", "RFC822Name", ...), values in certificate order.
using CertificateAttributes = std::map<std::string, std::vector<std::string>, std::less<>>;

// Maps an X.509 attribute short name as OpenSSL prints it ("CN", "O", "OU", "C", "ST",
// "serialNumber", "title", "SN", "GN", "initials", "pseudonym", "generationQualifier",
// "dnQualifier") to its §8.4 name; nullopt for attributes §8.4 has no variable for (e.g. "L").
std::optional<std::string_view> certificateAttributeName(std::string_view x509_short_name);
// Appends a value under its §8.4 name; returns false (and adds nothing) for unmapped names.
bool addCertificateAttribute(CertificateAttributes& attributes, std::string_view x509_short_name,
                             std::string value);

// §8.4 names of the alternative-name kinds, for the caller's GENERAL_NAME mapping.
inline constexpr std::string_view kAltRfc822Name = "RFC822Name";
inline constexpr std::string_view kAltDnsName = "DNSName";
inline constexpr std::string_view kAltDirectoryName = "DirectoryName";
inline constexpr std::string_view kAltUri = "UniformResourceIdentifier";
inline constexpr std::string_view kAltIpAddress = "IPAddress";

// The thing a connection is identified as (client id = an attached thing, or exclusive
// association); the caller only sets it when the thing is identified.
struct ThingContext {
  std::string name;
  std::string type_name;  // empty: no thing type
  std::map<std::string, std::string, std::less<>> attributes;
  bool is_attached = false;
};

// Everything policy variables and condition keys resolve from, for one connection.
struct ConnectionContext {
  std::string client_id;
  std::string source_ip;  // textual IPv4 or IPv6, empty when unknown
  std::optional<ThingContext> thing;
  CertificateAttributes subject;
  CertificateAttributes issuer;
  CertificateAttributes subject_alt_names;
  CertificateAttributes issuer_alt_names;
  std::string certificate_serial;              // empty when unknown
  bool persistent_connect = false;             // CONNECT with cleanSession=0 / clean start off
  std::optional<std::string> last_will_topic;  // set iff CONNECT carries a will
};

// Policy variables whose value is longer than this are not substituted (spec §8.4).
inline constexpr std::size_t kMaxSubstitutedLength = 1024;
// Multi-valued certificate attributes are truncated to this many values (spec §8.4).
inline constexpr std::size_t kMaxAttributeValues = 5;

// The policies of one connection, compiled against its context. Immutable once built; check() is
// const and allocation-free, so one instance may be shared by the threads serving the connection.
class CompiledPolicy {
 public:
  static CompiledPolicy compile(const std::vector<Document>& documents,
                                const ConnectionContext& context, std::string_view region,
                                std::string_view account);

  // resource_arn is the full ARN, e.g. topicArn(region, account, "a/b").
  Decision check(Action action, std::string_view resource_arn) const;
  // Same as check(action, resourceArn(kind, region, account, name)) without building the ARN.
  Decision check(Action action, ResourceKind kind, std::string_view name) const;

  bool allows(Action action, std::string_view resource_arn) const {
    return isAllowed(check(action, resource_arn));
  }

  // Statements that survived compilation (action set non-empty, conditions held); for tests and
  // diagnostics.
  std::size_t statementCount() const { return statements_.size(); }

  // Implementation types, public only so evaluator.cc's helpers can name them.
  struct Token {
    enum class Kind : std::uint8_t { kLiteral, kAnySequence, kAnyChar };
    Kind kind = Kind::kLiteral;
    std::string text;  // kLiteral only
  };
  // An IAM glob compiled into runs of literal text and '*' / '?' wildcards.
  class Pattern {
   public:
    Pattern() = default;
    explicit Pattern(std::vector<Token> tokens, bool ignore_case = false);
    // Matches the concatenation head + tail (tail lets callers skip building an ARN).
    bool matches(std::string_view head, std::string_view tail = {}) const;

   private:
    // Flattened: one entry per pattern byte, so matching needs no token bookkeeping.
    std::string chars_;
    std::vector<Token::Kind> kinds_;
    bool ignore_case_ = false;
    bool match_all_ = false;  // only '*' wildcards
    bool is_literal_ = true;  // no wildcard at all
  };
  struct CompiledStatement {
    bool deny = false;
    bool not_resource = false;
    std::vector<Pattern> resources;
  };

 private:
  bool matchesAny(const std::vector<std::uint32_t>& indices, std::string_view head,
                  std::string_view tail) const;
  Decision decide(Action action, std::string_view head, std::string_view tail) const;

  std::vector<CompiledStatement> statements_;
  // Per action, indices into statements_ of the Deny and the Allow statements that name it.
  std::array<std::vector<std::uint32_t>, kActionCount> deny_;
  std::array<std::vector<std::uint32_t>, kActionCount> allow_;
  std::array<std::string, 5> prefixes_;  // resourceArnPrefix per ResourceKind
};

}  // namespace fleetgate::policy
