#include "broker/authorizer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace fleetgate::broker {
namespace {

std::vector<policy::Document> parseAll(const std::vector<std::string>& documents) {
  std::vector<policy::Document> parsed;
  parsed.reserve(documents.size());
  for (const std::string& json : documents) {
    auto document = policy::parseDocument(json);
    if (document.ok()) {
      parsed.push_back(std::move(*document));
    } else {
      // Documents are validated when stored; one that no longer parses grants nothing.
      spdlog::error("stored policy document does not parse: {}", document.error().message());
    }
  }
  return parsed;
}

// No policy variable and no condition: the compiled form is the same for every connection.
bool contextFree(const std::vector<std::string>& documents) {
  for (const std::string& json : documents) {
    if (json.find("${") != std::string::npos) return false;
    std::string lower(json);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.find("condition") != std::string::npos) return false;
  }
  return true;
}

}  // namespace

policy::ConnectionContext connectionContext(const pki::PeerCertificateNames& names,
                                            std::string source_ip) {
  policy::ConnectionContext context;
  context.source_ip = std::move(source_ip);
  for (const auto& [name, value] : names.subject.attributes) {
    policy::addCertificateAttribute(context.subject, name, value);
  }
  for (const auto& [name, value] : names.issuer.attributes) {
    policy::addCertificateAttribute(context.issuer, name, value);
  }
  for (const auto& [kind, value] : names.subject_alt_names) {
    context.subject_alt_names[kind].push_back(value);
  }
  for (const auto& [kind, value] : names.issuer_alt_names) {
    context.issuer_alt_names[kind].push_back(value);
  }
  context.certificate_serial = names.serial;
  return context;
}

Authorizer::Authorizer(registry::Registry& registry, registry::CertificateIndex& certificates,
                       const Clock& clock, std::string default_account_id, std::string domain,
                       bool require_server_name)
    : registry_(registry),
      certificates_(certificates),
      clock_(clock),
      default_account_id_(std::move(default_account_id)),
      domain_(std::move(domain)),
      require_server_name_(require_server_name) {}

Status Authorizer::loadAccounts() {
  FG_ASSIGN_OR_RETURN(auto accounts, registry_.listAccounts());
  accounts_by_endpoint_.clear();
  default_account_.reset();
  for (const registry::Account& a : accounts) {
    const std::string suffix = ".iot." + a.region + "." + domain_;
    accounts_by_endpoint_[a.endpoint_prefix + "-ats" + suffix] = a;
    accounts_by_endpoint_[a.endpoint_prefix + suffix] = a;
    if (a.id == default_account_id_) default_account_ = a;
  }
  accounts_loaded_ = true;
  accounts_loaded_at_ = clock_.now();
  return {};
}

std::optional<registry::Account> Authorizer::accountFor(std::string_view server_name) {
  std::lock_guard lock(mutex_);
  if (!accounts_loaded_ && !loadAccounts().ok()) return std::nullopt;
  const std::string name(server_name);
  auto it = accounts_by_endpoint_.find(name);
  if (it != accounts_by_endpoint_.end()) return it->second;
  // A device endpoint is "<prefix>[-ats].iot.<region>.<domain>".
  const bool device_endpoint = name.find(".iot.") != std::string::npos &&
                               name.size() > domain_.size() + 1 &&
                               name.ends_with("." + domain_);
  if (device_endpoint) {
    if (clock_.now() - accounts_loaded_at_ >= std::chrono::seconds(1) && loadAccounts().ok()) {
      it = accounts_by_endpoint_.find(name);
      if (it != accounts_by_endpoint_.end()) return it->second;
    }
    return std::nullopt;  // an endpoint no account owns
  }
  if (require_server_name_) return std::nullopt;
  // No SNI, an IP literal or another name (localhost): the default account.
  return default_account_;
}

Result<std::shared_ptr<const Authorizer::Principal>> Authorizer::principal(
    const registry::Account& account, const std::string& certificate_id) {
  const std::string key = account.id + "/" + certificate_id;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = principals_.find(key);
    if (it != principals_.end()) return it->second;
    generation = generation_;
  }
  FG_ASSIGN_OR_RETURN(auto grants, registry_.principalGrants(account, certificate_id));
  auto compileShared = [&](const std::vector<policy::Document>& documents) {
    return std::make_shared<const policy::CompiledPolicy>(policy::CompiledPolicy::compile(
        documents, policy::ConnectionContext{}, account.region, account.id));
  };
  auto loaded = std::make_shared<Principal>();
  loaded->documents = parseAll(grants.policy_documents);
  const bool certificate_context_free = contextFree(grants.policy_documents);
  if (certificate_context_free) loaded->shared = compileShared(loaded->documents);
  for (auto& t : grants.things) {
    Principal::Thing thing;
    thing.context.name = t.thing.name;
    thing.context.type_name = t.thing.type_name.value_or("");
    thing.context.attributes.insert(t.thing.attributes.begin(), t.thing.attributes.end());
    thing.context.is_attached = true;
    thing.exclusive = t.exclusive;
    thing.group_documents = parseAll(t.group_policy_documents);
    if (certificate_context_free && contextFree(t.group_policy_documents)) {
      std::vector<policy::Document> all = loaded->documents;
      all.insert(all.end(), thing.group_documents.begin(), thing.group_documents.end());
      thing.shared = compileShared(all);
    }
    loaded->things.push_back(std::move(thing));
  }
  std::lock_guard lock(mutex_);
  if (generation == generation_) principals_[key] = loaded;
  return std::shared_ptr<const Principal>(std::move(loaded));
}

AuthOutcome Authorizer::authorize(const std::string& certificate_id, std::string_view server_name,
                                  const policy::ConnectionContext& context,
                                  const mqtt::Will* will) {
  auto account = accountFor(server_name);
  if (!account) return Refusal{AuthFailure::kUnknownAccount, "no account for the server name"};
  auto registrations = certificates_.lookup(certificate_id);
  if (!registrations.ok()) return Refusal{AuthFailure::kServerError, registrations.error().message()};
  const registry::Certificate* certificate = nullptr;
  for (const registry::Certificate& c : **registrations) {
    if (c.account_id == account->id) certificate = &c;
  }
  if (certificate == nullptr) {
    return Refusal{AuthFailure::kUnknownCertificate, "certificate not registered in the account"};
  }
  if (certificate->status != registry::CertificateStatus::kActive) {
    return Refusal{AuthFailure::kCertificateNotActive, "certificate is not ACTIVE", *certificate};
  }
  const TimePoint now = clock_.now();
  if (now < certificate->not_before) {
    return Refusal{AuthFailure::kCertificateNotYetValid, "certificate is not valid yet"};
  }
  if (now > certificate->not_after) {
    return Refusal{AuthFailure::kCertificateExpired, "certificate has expired"};
  }
  auto loaded = principal(*account, certificate_id);
  if (!loaded.ok()) return Refusal{AuthFailure::kServerError, loaded.error().message()};
  const Principal& p = **loaded;

  // spec §8.4: the thing is identified by a client id equal to an attached thing's name, or by
  // an exclusive association.
  const Principal::Thing* thing = nullptr;
  for (const auto& t : p.things) {
    if (t.context.name == context.client_id) thing = &t;
  }
  std::optional<std::string> exclusive_thing;
  for (const auto& t : p.things) {
    if (!t.exclusive) continue;
    exclusive_thing = t.context.name;
    if (thing == nullptr) thing = &t;
  }
  std::shared_ptr<const policy::CompiledPolicy> compiled = thing ? thing->shared : p.shared;
  if (!compiled) {
    std::vector<policy::Document> documents = p.documents;
    policy::ConnectionContext full = context;
    if (thing != nullptr) {
      full.thing = thing->context;
      documents.insert(documents.end(), thing->group_documents.begin(),
                       thing->group_documents.end());
    }
    compiled = std::make_shared<const policy::CompiledPolicy>(
        policy::CompiledPolicy::compile(documents, full, account->region, account->id));
  }
  using policy::Action;
  using policy::ResourceKind;
  if (!compiled->allows(Action::kConnect,
                        policy::clientArn(account->region, account->id, context.client_id))) {
    return Refusal{AuthFailure::kConnectDenied, "iot:Connect not allowed"};
  }
  if (will != nullptr) {
    const bool publish =
        isAllowed(compiled->check(Action::kPublish, ResourceKind::kTopic, will->topic));
    const bool retain = !will->retain || isAllowed(compiled->check(
                                             Action::kRetainPublish, ResourceKind::kTopic,
                                             will->topic));
    if (!publish || !retain) return Refusal{AuthFailure::kWillDenied, "will topic not allowed"};
  }
  return Authorization{*account, exclusive_thing, std::move(compiled)};
}

bool Authorizer::onRegistryEvent(const registry::Event& event) {
  using registry::EventResource;
  const bool accounts = event.resource == EventResource::kAccount;
  switch (event.resource) {
    case EventResource::kAccount:
    case EventResource::kPolicy:
    case EventResource::kPolicyAttachment:
    case EventResource::kThingPrincipal:
    case EventResource::kThing:
    case EventResource::kThingGroup:
    case EventResource::kCertificate:
      break;  // may change what a principal is granted
    case EventResource::kThingType:
    case EventResource::kCaCertificate:  // no effect on registered certificates (spec §2.2)
    case EventResource::kProvisioningTemplate:
    case EventResource::kTopicRule:
      return false;
  }
  std::lock_guard lock(mutex_);
  ++generation_;
  principals_.clear();
  if (accounts) accounts_loaded_ = false;
  return true;
}

}  // namespace fleetgate::broker
