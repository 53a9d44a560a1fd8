#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/random.h"
#include "pki/issuer.h"
#include "pki/key_pool.h"
#include "pki/secret_keyring.h"
#include "registry/events.h"
#include "registry/model.h"
#include "registry/provisioning_plan.h"
#include "store/database.h"

namespace fleetgate::registry {

struct NewAccount {
  std::string id;
  std::string region;
  std::string endpoint_prefix;
  std::string access_key_id;
  std::string secret_access_key;
};

struct AccessKey {
  Account account;
  std::string secret_access_key;
};

struct CreateThingInput {
  std::string name;
  std::optional<std::string> type_name;
  std::optional<Attributes> attributes;
  std::optional<std::string> billing_group;
};

struct UpdateThingInput {
  std::string name;
  std::optional<std::string> type_name;
  bool remove_type = false;
  std::optional<Attributes> attributes;
  bool merge = false;
  std::optional<std::int64_t> expected_version;
};

struct ListThingsFilter {
  std::optional<std::string> attribute_name;
  std::optional<std::string> attribute_value;
  std::optional<std::string> type_name;
  bool use_prefix_attribute_value = false;
};

struct CreateThingGroupInput {
  std::string name;
  std::optional<std::string> parent;
  std::optional<std::string> description;
  Attributes attributes;
};

struct ListThingGroupsFilter {
  std::optional<std::string> parent;
  std::optional<std::string> name_prefix;
  bool recursive = true;
};

// A certificate fleetgate issued, with the key pair when fleetgate generated it.
struct IssuedCertificate {
  Certificate certificate;
  std::optional<std::string> private_key_pem;
  std::optional<std::string> public_key_pem;
};

struct RegisterCaInput {
  std::string ca_pem;
  std::optional<std::string> verification_pem;
  bool set_active = false;
  bool allow_auto_registration = false;
  RegistrationConfig registration_config;
  CertificateMode mode = CertificateMode::kDefault;
};

struct UpdateCaInput {
  std::string id;
  std::optional<bool> active;
  std::optional<bool> auto_registration;
  std::optional<RegistrationConfig> registration_config;
  bool remove_auto_registration = false;
};

struct CreateTemplateInput {
  std::string name;
  std::optional<std::string> description;
  std::string body;
  bool enabled = false;
  std::string provisioning_role_arn;
  std::optional<PreProvisioningHook> pre_provisioning_hook;
  std::string type = "FLEET_PROVISIONING";
};

struct UpdateTemplateInput {
  std::string name;
  std::optional<std::string> description;
  std::optional<bool> enabled;
  std::optional<std::int64_t> default_version_id;
  std::optional<std::string> provisioning_role_arn;
  std::optional<PreProvisioningHook> pre_provisioning_hook;
  bool remove_pre_provisioning_hook = false;
};

// The body of CreateTopicRule / ReplaceTopicRule (`topicRulePayload`).
struct TopicRulePayload {
  std::string sql;
  std::optional<std::string> description;
  std::string actions = "[]";  // JSON array of `Action` objects
  std::optional<std::string> error_action;  // JSON `Action` object
  bool disabled = false;
  std::optional<std::string> aws_iot_sql_version;
};

struct ListTopicRulesFilter {
  std::optional<std::string> topic;  // rules whose FROM filter is, or matches, this topic
  std::optional<bool> disabled;
};


// The registry: every control-plane operation as one transaction over the store, domain rules
// (states, preconditions, limits) enforced here, events published after commit. Knows nothing
// of HTTP or MQTT. Thread-safe.
// A thing attached to a certificate, with the default-version documents of the policies
// attached to its thing groups and their ancestors.
struct PrincipalThing {
  Thing thing;
  bool exclusive = false;
  std::vector<std::string> group_policy_documents;
};

// What authorizing a connection made with one certificate needs, read in one transaction.
struct PrincipalGrants {
  std::vector<std::string> policy_documents;  // default versions of the certificate's policies
  std::vector<PrincipalThing> things;
};

class Registry {
 public:
  struct Dependencies {
    store::Database& db;
    const Clock& clock;
    Random& random;
    const pki::Issuer& device_issuer;  // every device certificate the registry hands out
    pki::KeyPool& key_pool;
    EventBus& events;
    const pki::SecretKeyring& secrets;  // seals the secrets the registry stores
  };
  explicit Registry(Dependencies deps);

  // Accounts and their access keys.
  Result<Account> createAccount(const NewAccount& input);
  Result<std::optional<AccessKey>> findAccessKey(std::string_view access_key_id);
  // Seals, under the keyring's current key, every stored secret that is not sealed with it yet
  // (plaintext ones from before secrets were sealed, or ones under an older key), in one
  // transaction. Returns how many it re-sealed.
  Result<std::size_t> resealSecrets();
  Result<Account> account(std::string_view account_id);
  Result<std::vector<Account>> listAccounts();
  // Deletes every resource of the account; keeps the account and its keys.
  Status resetAccount(std::string_view account_id);
  Status deleteAccount(std::string_view account_id);

  // Things, thing types, thing groups.
  Result<Thing> createThing(const Account& a, const CreateThingInput& input);
  Result<Thing> describeThing(const Account& a, std::string_view name);
  Status updateThing(const Account& a, const UpdateThingInput& input);
  Status deleteThing(const Account& a, std::string_view name,
                     std::optional<std::int64_t> expected_version);
  Result<Page<Thing>> listThings(const Account& a, const ListThingsFilter& filter,
                                 const PageRequest& page);

  Result<ThingType> createThingType(const Account& a, const std::string& name,
                                    std::optional<std::string> description,
                                    std::vector<std::string> searchable_attributes);
  Result<ThingType> describeThingType(const Account& a, std::string_view name);
  Result<Page<ThingType>> listThingTypes(const Account& a, std::optional<std::string> name,
                                         const PageRequest& page);
  Status deprecateThingType(const Account& a, std::string_view name, bool undo);
  Status deleteThingType(const Account& a, std::string_view name);

  Result<ThingGroup> createThingGroup(const Account& a, const CreateThingGroupInput& input);
  Result<ThingGroup> describeThingGroup(const Account& a, std::string_view name);
  Result<Page<ThingGroup>> listThingGroups(const Account& a, const ListThingGroupsFilter& filter,
                                           const PageRequest& page);
  Status deleteThingGroup(const Account& a, std::string_view name,
                          std::optional<std::int64_t> expected_version);
  Status addThingToThingGroup(const Account& a, std::string_view group, std::string_view thing);
  Status removeThingFromThingGroup(const Account& a, std::string_view group,
                                   std::string_view thing);
  Result<Page<std::string>> listThingsInThingGroup(const Account& a, std::string_view group,
                                                   bool recursive, const PageRequest& page);

  // Device certificates.
  Result<IssuedCertificate> createKeysAndCertificate(const Account& a, bool set_active);
  Result<Certificate> createCertificateFromCsr(const Account& a, std::string_view csr_pem,
                                               bool set_active);
  Result<Certificate> registerCertificate(const Account& a, std::string_view pem,
                                          std::optional<std::string_view> ca_pem,
                                          CertificateStatus status);
  Result<Certificate> registerCertificateWithoutCa(const Account& a, std::string_view pem,
                                                   CertificateStatus status);
  Result<Certificate> describeCertificate(const Account& a, std::string_view id);
  Status updateCertificate(const Account& a, std::string_view id, CertificateStatus status);
  Status deleteCertificate(const Account& a, std::string_view id, bool force);
  Result<Page<Certificate>> listCertificates(const Account& a, std::optional<std::string> ca_id,
                                             const PageRequest& page);
  // Every account's registration of a certificate id (the broker authenticates with this).
  Result<std::vector<Certificate>> findCertificateEverywhere(std::string_view id);

  // CA certificates.
  Result<std::string> getRegistrationCode(const Account& a);
  Status deleteRegistrationCode(const Account& a);
  Result<CaCertificate> registerCaCertificate(const Account& a, const RegisterCaInput& input);
  Result<CaCertificate> describeCaCertificate(const Account& a, std::string_view id);
  Status updateCaCertificate(const Account& a, const UpdateCaInput& input);
  Status deleteCaCertificate(const Account& a, std::string_view id);
  Result<Page<CaCertificate>> listCaCertificates(const Account& a,
                                                 std::optional<std::string> template_name,
                                                 const PageRequest& page);
  // The account's CA certificates whose subject is `subject_der` (a device certificate's issuer
  // name, DER), oldest first: the candidates for just-in-time registration.
  Result<std::vector<CaCertificate>> caCertificatesWithSubject(const Account& a,
                                                               std::string_view subject_der);

  // Policies and attachments. Targets are certificate or thing-group ARNs.
  Result<PolicyVersion> createPolicy(const Account& a, const std::string& name,
                                     const std::string& document);
  Result<Policy> getPolicy(const Account& a, std::string_view name);
  Status deletePolicy(const Account& a, std::string_view name);
  Result<Page<std::string>> listPolicies(const Account& a, const PageRequest& page);
  Result<PolicyVersion> createPolicyVersion(const Account& a, const std::string& name,
                                            const std::string& document, bool set_as_default);
  Result<PolicyVersion> getPolicyVersion(const Account& a, std::string_view name,
                                         std::string_view version_id);
  Result<std::vector<PolicyVersion>> listPolicyVersions(const Account& a, std::string_view name);
  Status setDefaultPolicyVersion(const Account& a, std::string_view name,
                                 std::string_view version_id);
  Status deletePolicyVersion(const Account& a, std::string_view name,
                             std::string_view version_id);
  Status attachPolicy(const Account& a, std::string_view name, std::string_view target);
  Status detachPolicy(const Account& a, std::string_view name, std::string_view target);
  Result<Page<std::string>> listAttachedPolicies(const Account& a, std::string_view target,
                                                 bool recursive, const PageRequest& page);
  Result<Page<std::string>> listTargetsForPolicy(const Account& a, std::string_view name,
                                                 const PageRequest& page);

  // Thing principals (certificate ARNs).
  Status attachThingPrincipal(const Account& a, std::string_view thing,
                              std::string_view principal, std::string_view type);
  Status detachThingPrincipal(const Account& a, std::string_view thing,
                              std::string_view principal);
  Result<Page<ThingPrincipal>> listThingPrincipals(const Account& a, std::string_view thing,
                                                   const PageRequest& page);
  Result<PrincipalGrants> principalGrants(const Account& a, std::string_view certificate_id);
  Result<Page<std::string>> listPrincipalThings(const Account& a, std::string_view principal,
                                                const PageRequest& page);

  // Provisioning templates (stored and versioned; evaluated by provisioning/ later).
  Result<ProvisioningTemplate> createProvisioningTemplate(const Account& a,
                                                          const CreateTemplateInput& input);
  Result<ProvisioningTemplate> describeProvisioningTemplate(const Account& a,
                                                            std::string_view name);
  Result<Page<ProvisioningTemplate>> listProvisioningTemplates(const Account& a,
                                                               const PageRequest& page);
  Status updateProvisioningTemplate(const Account& a, const UpdateTemplateInput& input);
  Status deleteProvisioningTemplate(const Account& a, std::string_view name);
  Result<ProvisioningTemplateVersion> createProvisioningTemplateVersion(
      const Account& a, std::string_view name, const std::string& body, bool set_as_default);
  Result<ProvisioningTemplateVersion> describeProvisioningTemplateVersion(
      const Account& a, std::string_view name, std::int64_t version_id);
  Result<Page<ProvisioningTemplateVersion>> listProvisioningTemplateVersions(
      const Account& a, std::string_view name, const PageRequest& page);
  Status deleteProvisioningTemplateVersion(const Account& a, std::string_view name,
                                           std::int64_t version_id);

  // Applies an evaluated provisioning template (JITP, RegisterThing, fleet provisioning) in
  // one write transaction: registers `register_first` (PENDING_ACTIVATION) if given, then the
  // thing, certificate and policies and their attachments. Any failure leaves nothing behind
  // and is ResourceRegistrationFailureException naming the resource.
  Result<ProvisioningOutcome> provision(
      const Account& a, const ProvisioningPlan& plan,
      const std::optional<CertificateToRegister>& register_first = std::nullopt);

  // Topic rules (spec §1.10). The payload (SQL, actions, name) is validated before anything is
  // stored. A rule that does not exist is UnauthorizedException, as AWS answers (the model
  // lists no ResourceNotFoundException for these operations).
  Status createTopicRule(const Account& a, const std::string& name,
                         const TopicRulePayload& payload);
  Result<TopicRule> getTopicRule(const Account& a, std::string_view name);
  Result<Page<TopicRule>> listTopicRules(const Account& a, const ListTopicRulesFilter& filter,
                                         const PageRequest& page);
  Status replaceTopicRule(const Account& a, const std::string& name,
                          const TopicRulePayload& payload);
  Status deleteTopicRule(const Account& a, std::string_view name);
  Status setTopicRuleEnabled(const Account& a, std::string_view name, bool enabled);
  // Every rule of an account, enabled or not, for the rule engine; none for an unknown account.
  Result<std::vector<TopicRule>> allTopicRules(std::string_view account_id);

  const Clock& clock() const { return deps_.clock; }

 private:
  // Transaction-level bodies of the operations above, shared with provision(): each checks
  // the operation's preconditions and records the events the operation records.
  Result<Thing> createThingTx(store::Transaction& tx, std::vector<Event>& events,
                              const Account& a, const CreateThingInput& input);
  Status updateThingTx(store::Transaction& tx, std::vector<Event>& events, const Account& a,
                       const UpdateThingInput& input);
  Status addThingToThingGroupTx(store::Transaction& tx, std::vector<Event>& events,
                                const Account& a, const std::string& group,
                                const std::string& thing);
  Status removeThingFromThingGroupTx(store::Transaction& tx, std::vector<Event>& events,
                                     const Account& a, const std::string& group,
                                     const std::string& thing);
  Result<PolicyVersion> createPolicyTx(store::Transaction& tx, std::vector<Event>& events,
                                       const Account& a, const std::string& name,
                                       const std::string& document);
  Status attachPolicyTx(store::Transaction& tx, std::vector<Event>& events, const Account& a,
                        const std::string& name, const std::string& target);
  Status attachThingPrincipalTx(store::Transaction& tx, std::vector<Event>& events,
                                const Account& a, const std::string& thing,
                                const std::string& principal, const std::string& type);
  Status updateCertificateTx(store::Transaction& tx, std::vector<Event>& events,
                             const Account& a, const std::string& id, CertificateStatus status);
  Result<Certificate> insertCertificateTx(store::Transaction& tx, std::vector<Event>& events,
                                          const Account& a, const pki::Certificate& cert,
                                          CertificateStatus status,
                                          std::optional<std::string> ca_id, CertificateMode mode);
  Result<Certificate> registerCertificateTx(store::Transaction& tx, std::vector<Event>& events,
                                            const Account& a, const pki::Certificate& cert,
                                            const std::optional<pki::Certificate>& named_ca,
                                            CertificateStatus status);
  Result<Certificate> registerCertificateWithoutCaTx(store::Transaction& tx,
                                                     std::vector<Event>& events,
                                                     const Account& a,
                                                     const pki::Certificate& cert,
                                                     CertificateStatus status);

  // Runs `body` as one write transaction and publishes the events it recorded after commit.
  Status write(const std::function<Status(store::Transaction&, std::vector<Event>&)>& body);
  Status read(const std::function<Status(store::Transaction&)>& body);
  Result<Certificate> insertCertificate(const Account& a, const pki::Certificate& cert,
                                        CertificateStatus status, std::optional<std::string> ca_id,
                                        CertificateMode mode);

  Dependencies deps_;
};

// The ids of the keys that sealed the secrets stored in `db` (empty for a new database; "" for
// a secret not sealed yet), so a keyring can be checked before a registry uses it.
Result<std::vector<std::string>> sealedSecretKeyIds(store::Database& db);

}  // namespace fleetgate::registry
