#include "registry/registry.h"

#include <gtest/gtest.h>

#include <set>

#include "registry/certificate_index.h"
#include "testing/registry_fixture.h"

namespace fleetgate::registry {
namespace {

using testing::RegistryFixture;

constexpr const char* kPolicy =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";

class RegistryTest : public RegistryFixture {
 protected:
  ErrorKind kindOf(const Status& s) { return s.ok() ? ErrorKind::kInternalFailure : s.error().kind(); }
  template <typename T>
  ErrorKind kindOf(const Result<T>& r) {
    EXPECT_FALSE(r.ok());
    return r.ok() ? ErrorKind::kInternalFailure : r.error().kind();
  }
  std::string certArn(const std::string& id) { return account_.arn("cert", id); }
  Certificate newCertificate(bool active) {
    auto issued = registry_->createKeysAndCertificate(account_, active);
    EXPECT_TRUE(issued.ok());
    return issued->certificate;
  }
};

TEST_F(RegistryTest, CreateThingIsIdempotentForTheSameConfiguration) {
  auto first = registry_->createThing(account_, {"t1", std::nullopt, Attributes{{"a", "1"}}, {}});
  ASSERT_TRUE(first.ok());
  auto again = registry_->createThing(account_, {"t1", std::nullopt, Attributes{{"a", "1"}}, {}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first->id);
  auto different = registry_->createThing(account_, {"t1", std::nullopt, Attributes{{"a", "2"}}, {}});
  ASSERT_EQ(kindOf(different), ErrorKind::kResourceAlreadyExists);
  EXPECT_EQ(different.error().resourceId(), first->id);
  EXPECT_EQ(different.error().resourceArn(), account_.arn("thing", "t1"));
}

TEST_F(RegistryTest, ThingNamesAndAttributesFollowTheDocumentedPatterns) {
  EXPECT_EQ(kindOf(registry_->createThing(account_, {"bad name", {}, {}, {}})),
            ErrorKind::kInvalidRequest);
  EXPECT_EQ(kindOf(registry_->createThing(account_, {std::string(129, 'a'), {}, {}, {}})),
            ErrorKind::kInvalidRequest);
  EXPECT_EQ(kindOf(registry_->createThing(account_, {"t", {}, Attributes{{"a b", "1"}}, {}})),
            ErrorKind::kInvalidRequest);
  // Four attributes need a thing type.
  Attributes four{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}};
  EXPECT_EQ(kindOf(registry_->createThing(account_, {"t", {}, four, {}})),
            ErrorKind::kInvalidRequest);
  ASSERT_TRUE(registry_->createThingType(account_, "sensor", std::nullopt, {}).ok());
  EXPECT_TRUE(registry_->createThing(account_, {"t", "sensor", four, {}}).ok());
  EXPECT_EQ(kindOf(registry_->createThing(account_, {"u", "missing-type", {}, {}})),
            ErrorKind::kResourceNotFound);
}

TEST_F(RegistryTest, UpdateThingMergesReplacesAndChecksTheVersion) {
  ASSERT_TRUE(registry_->createThing(account_, {"t", {}, Attributes{{"a", "1"}, {"b", "2"}}, {}}).ok());
  UpdateThingInput merge{"t", {}, false, Attributes{{"b", ""}, {"c", "3"}}, true, 1};
  ASSERT_TRUE(registry_->updateThing(account_, merge).ok());
  auto thing = registry_->describeThing(account_, "t");
  EXPECT_EQ(thing->attributes, (Attributes{{"a", "1"}, {"c", "3"}}));
  EXPECT_EQ(thing->version, 2);
  // The expected version is now stale.
  EXPECT_EQ(kindOf(registry_->updateThing(account_, merge)), ErrorKind::kVersionConflict);
  UpdateThingInput replace{"t", {}, false, Attributes{{"z", "9"}}, false, 2};
  ASSERT_TRUE(registry_->updateThing(account_, replace).ok());
  EXPECT_EQ(registry_->describeThing(account_, "t")->attributes, (Attributes{{"z", "9"}}));
}

TEST_F(RegistryTest, DeleteThingRefusesWhilePrincipalsAreAttached) {
  ASSERT_TRUE(registry_->createThing(account_, {"t", {}, {}, {}}).ok());
  auto cert = newCertificate(false);
  ASSERT_TRUE(registry_->attachThingPrincipal(account_, "t", certArn(cert.id), "NON_EXCLUSIVE_THING").ok());
  EXPECT_EQ(kindOf(registry_->deleteThing(account_, "t", std::nullopt)), ErrorKind::kInvalidRequest);
  ASSERT_TRUE(registry_->detachThingPrincipal(account_, "t", certArn(cert.id)).ok());
  EXPECT_EQ(kindOf(registry_->deleteThing(account_, "t", 7)), ErrorKind::kVersionConflict);
  EXPECT_TRUE(registry_->deleteThing(account_, "t", std::nullopt).ok());
  EXPECT_EQ(kindOf(registry_->describeThing(account_, "t")), ErrorKind::kResourceNotFound);
  EXPECT_TRUE(registry_->deleteThing(account_, "t", std::nullopt).ok());  // already gone: fine
}

TEST_F(RegistryTest, ListThingsPagesThroughEveryThingOnceAndFilters) {
  for (int i = 0; i < 23; ++i) {
    Attributes attrs{{"even", i % 2 == 0 ? "yes" : "no"}};
    ASSERT_TRUE(registry_->createThing(account_, {"thing-" + std::to_string(i), {}, attrs, {}}).ok());
  }
  std::set<std::string> seen;
  PageRequest page{std::nullopt, 5, true};
  int pages = 0;
  do {
    auto result = registry_->listThings(account_, {}, page);
    ASSERT_TRUE(result.ok());
    for (const auto& t : result->items) EXPECT_TRUE(seen.insert(t.name).second) << t.name;
    page.token = result->next;
    ++pages;
  } while (page.token);
  EXPECT_EQ(seen.size(), 23u);
  EXPECT_EQ(pages, 5);
  auto even = registry_->listThings(account_, {"even", "yes", {}, false}, {std::nullopt, 100, true});
  EXPECT_EQ(even->items.size(), 12u);
  auto prefixed = registry_->listThings(account_, {"even", "y", {}, true}, {std::nullopt, 100, true});
  EXPECT_EQ(prefixed->items.size(), 12u);
  EXPECT_EQ(kindOf(registry_->listThings(account_, {}, {std::string("!!notbase64"), 5, true})),
            ErrorKind::kInvalidRequest);
}

TEST_F(RegistryTest, CertificateStatusTransitionsFollowTheStateMachine) {
  auto cert = newCertificate(false);
  EXPECT_EQ(cert.status, CertificateStatus::kInactive);
  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, CertificateStatus::kActive).ok());
  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, CertificateStatus::kActive).ok());
  EXPECT_EQ(kindOf(registry_->updateCertificate(account_, cert.id,
                                                CertificateStatus::kPendingActivation)),
            ErrorKind::kInvalidRequest);
  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, CertificateStatus::kRevoked).ok());
  EXPECT_EQ(kindOf(registry_->updateCertificate(account_, cert.id, CertificateStatus::kActive)),
            ErrorKind::kCertificateState);
  EXPECT_EQ(registry_->describeCertificate(account_, cert.id)->status, CertificateStatus::kRevoked);
  EXPECT_EQ(kindOf(registry_->updateCertificate(account_, std::string(64, 'a'),
                                                CertificateStatus::kActive)),
            ErrorKind::kResourceNotFound);
  EXPECT_EQ(kindOf(registry_->describeCertificate(account_, "not-an-id")), ErrorKind::kInvalidRequest);
}

TEST_F(RegistryTest, DeleteCertificatePreconditions) {
  auto cert = newCertificate(true);
  EXPECT_EQ(kindOf(registry_->deleteCertificate(account_, cert.id, false)),
            ErrorKind::kCertificateState);
  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, CertificateStatus::kInactive).ok());
  ASSERT_TRUE(registry_->createThing(account_, {"t", {}, {}, {}}).ok());
  ASSERT_TRUE(registry_->attachThingPrincipal(account_, "t", certArn(cert.id), "NON_EXCLUSIVE_THING").ok());
  ASSERT_TRUE(registry_->createPolicy(account_, "p", kPolicy).ok());
  ASSERT_TRUE(registry_->attachPolicy(account_, "p", certArn(cert.id)).ok());
  // forceDelete does not override attached things.
  EXPECT_EQ(kindOf(registry_->deleteCertificate(account_, cert.id, true)), ErrorKind::kDeleteConflict);
  ASSERT_TRUE(registry_->detachThingPrincipal(account_, "t", certArn(cert.id)).ok());
  EXPECT_EQ(kindOf(registry_->deleteCertificate(account_, cert.id, false)), ErrorKind::kDeleteConflict);
  ASSERT_TRUE(registry_->deleteCertificate(account_, cert.id, true).ok());
  EXPECT_EQ(kindOf(registry_->describeCertificate(account_, cert.id)), ErrorKind::kResourceNotFound);
  // The forced delete removed the attachment with the certificate.
  EXPECT_TRUE(registry_->listTargetsForPolicy(account_, "p", {std::nullopt, 25, true})->items.empty());
}

TEST_F(RegistryTest, RegisteringTheSameCertificateTwiceNamesTheExistingOne) {
  auto leaf = issueLeaf(makeCa("Other CA"), "device");
  ASSERT_TRUE(registry_->registerCertificateWithoutCa(account_, leaf.pem(), CertificateStatus::kActive).ok());
  auto again = registry_->registerCertificateWithoutCa(account_, leaf.pem(), CertificateStatus::kActive);
  ASSERT_EQ(kindOf(again), ErrorKind::kResourceAlreadyExists);
  EXPECT_EQ(again.error().resourceId(), leaf.id());
  EXPECT_EQ(kindOf(registry_->registerCertificateWithoutCa(account_, "-----BEGIN CERTIFICATE-----\nAAAA\n",
                                                            CertificateStatus::kActive)),
            ErrorKind::kCertificateValidation);
  EXPECT_EQ(registry_->describeCertificate(account_, leaf.id())->mode, CertificateMode::kSniOnly);
}

class CaRegistrationTest : public RegistryTest {
 protected:
  // A verification certificate for `code`, signed by `signer`.
  std::string verificationFor(const pki::CertificateAuthority& signer, const std::string& code) {
    return issueLeaf(signer, code).pem();
  }
  pki::CertificateAuthority ca_ = makeCa("Customer CA");
};

TEST_F(CaRegistrationTest, ProofOfPossessionIsChecked) {
  auto code = registry_->getRegistrationCode(account_);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code->size(), 64u);
  EXPECT_EQ(*registry_->getRegistrationCode(account_), *code);  // stable until deleted

  RegisterCaInput input{ca_.certificate().pem(), verificationFor(ca_, "wrong-code"), true, true, {},
                        CertificateMode::kDefault};
  EXPECT_EQ(kindOf(registry_->registerCaCertificate(account_, input)),
            ErrorKind::kRegistrationCodeValidation);
  input.verification_pem = verificationFor(makeCa("Impostor"), *code);
  EXPECT_EQ(kindOf(registry_->registerCaCertificate(account_, input)),
            ErrorKind::kCertificateValidation);
  input.verification_pem = std::nullopt;
  EXPECT_EQ(kindOf(registry_->registerCaCertificate(account_, input)), ErrorKind::kInvalidRequest);
  RegisterCaInput not_a_ca{issueLeaf(ca_, "leaf").pem(), verificationFor(ca_, *code), true, false,
                           {}, CertificateMode::kDefault};
  EXPECT_EQ(kindOf(registry_->registerCaCertificate(account_, not_a_ca)),
            ErrorKind::kCertificateValidation);
  EXPECT_TRUE(registry_->listCaCertificates(account_, {}, {std::nullopt, 25, true})->items.empty());

  input.verification_pem = verificationFor(ca_, *code);
  auto ca = registry_->registerCaCertificate(account_, input);
  ASSERT_TRUE(ca.ok()) << ca.error().message();
  EXPECT_TRUE(ca->active);
  EXPECT_TRUE(ca->auto_registration);
  auto duplicate = registry_->registerCaCertificate(account_, input);
  ASSERT_EQ(kindOf(duplicate), ErrorKind::kResourceAlreadyExists);
  EXPECT_EQ(duplicate.error().resourceArn(), account_.arn("cacert", ca->id));
}

// An inline JITP template is checked like a stored provisioning template.
TEST_F(CaRegistrationTest, InlineRegistrationTemplatesAreShapeChecked) {
  const std::string role = "arn:aws:iam::123456789012:role/JITP";
  RegisterCaInput input{ca_.certificate().pem(), std::nullopt, true, true,
                        {R"({"Resources":{}})", role, std::nullopt}, CertificateMode::kSniOnly};
  EXPECT_EQ(kindOf(registry_->registerCaCertificate(account_, input)), ErrorKind::kInvalidRequest);
  input.registration_config.template_body =
      R"({"Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{}}}})";
  input.registration_config.role_arn = "not-an-arn-but-long-enough";
  EXPECT_EQ(kindOf(registry_->registerCaCertificate(account_, input)), ErrorKind::kInvalidRequest);
  EXPECT_TRUE(registry_->listCaCertificates(account_, {}, {std::nullopt, 25, true})->items.empty());
  input.registration_config.role_arn = role;
  auto ca = registry_->registerCaCertificate(account_, input);
  ASSERT_TRUE(ca.ok()) << ca.error().message();
  EXPECT_EQ(registry_->describeCaCertificate(account_, ca->id)->registration_config.role_arn, role);
}

TEST_F(CaRegistrationTest, DeviceCertificatesRegisterOnlyUnderAnActiveRegisteredCa) {
  auto leaf = issueLeaf(ca_, "device-1");
  EXPECT_EQ(kindOf(registry_->registerCertificate(account_, leaf.pem(), std::nullopt,
                                                  CertificateStatus::kActive)),
            ErrorKind::kCertificateValidation);
  RegisterCaInput input{ca_.certificate().pem(), std::nullopt, false, false, {},
                        CertificateMode::kSniOnly};
  auto ca = registry_->registerCaCertificate(account_, input);
  ASSERT_TRUE(ca.ok()) << ca.error().message();
  EXPECT_EQ(kindOf(registry_->registerCertificate(account_, leaf.pem(), std::nullopt,
                                                  CertificateStatus::kActive)),
            ErrorKind::kCertificateState);
  ASSERT_TRUE(registry_->updateCaCertificate(account_, {ca->id, true, {}, {}, false}).ok());
  auto cert = registry_->registerCertificate(account_, leaf.pem(), std::nullopt, CertificateStatus::kActive);
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  EXPECT_EQ(cert->ca_id, ca->id);
  EXPECT_EQ(cert->mode, CertificateMode::kSniOnly);  // inherited from the CA
  auto by_ca = registry_->listCertificates(account_, ca->id, {std::nullopt, 25, true});
  ASSERT_EQ(by_ca->items.size(), 1u);

  auto expired = issueLeaf(ca_, "old", std::chrono::hours(2));
  clock_.advance(std::chrono::hours(3));
  EXPECT_EQ(kindOf(registry_->registerCertificate(account_, expired.pem(), std::nullopt,
                                                  CertificateStatus::kActive)),
            ErrorKind::kCertificateValidation);
  EXPECT_EQ(kindOf(registry_->deleteCaCertificate(account_, ca->id)), ErrorKind::kCertificateState);
  ASSERT_TRUE(registry_->updateCaCertificate(account_, {ca->id, false, {}, {}, false}).ok());
  EXPECT_TRUE(registry_->deleteCaCertificate(account_, ca->id).ok());
}

TEST_F(RegistryTest, CaListingsPageByCreationEvenWhenTheMarkerCaIsDeleted) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto ca = registry_->registerCaCertificate(
        account_, {makeCa("CA " + std::to_string(i)).certificate().pem(), std::nullopt, false,
                   false, {}, CertificateMode::kSniOnly});
    ASSERT_TRUE(ca.ok());
    ids.push_back(ca->id);
    clock_.advance(std::chrono::seconds(1));
  }
  auto first = registry_->listCaCertificates(account_, {}, {std::nullopt, 1, true});
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0].id, ids[0]);
  ASSERT_TRUE(first->next);
  ASSERT_TRUE(registry_->deleteCaCertificate(account_, ids[0]).ok());
  auto rest = registry_->listCaCertificates(account_, {}, {first->next, 10, true});
  ASSERT_EQ(rest->items.size(), 2u);
  EXPECT_EQ(rest->items[0].id, ids[1]);
  EXPECT_EQ(rest->items[1].id, ids[2]);
  EXPECT_FALSE(rest->next);
  auto descending = registry_->listCaCertificates(account_, {}, {std::nullopt, 1, false});
  EXPECT_EQ(descending->items[0].id, ids[2]);
  EXPECT_EQ(kindOf(registry_->listCaCertificates(account_, {}, {std::string("bm9jb2xvbg=="), 1, true})),
            ErrorKind::kInvalidRequest);
}

TEST_F(RegistryTest, PolicyVersionsAreLimitedAndTheDefaultIsProtected) {
  EXPECT_EQ(kindOf(registry_->createPolicy(account_, "p", "{not json")), ErrorKind::kMalformedPolicy);
  ASSERT_TRUE(registry_->createPolicy(account_, "p", kPolicy).ok());
  for (int i = 2; i <= 5; ++i) {
    auto v = registry_->createPolicyVersion(account_, "p", kPolicy, false);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->version_id, std::to_string(i));
  }
  EXPECT_EQ(kindOf(registry_->createPolicyVersion(account_, "p", kPolicy, false)),
            ErrorKind::kVersionsLimitExceeded);
  EXPECT_EQ(kindOf(registry_->deletePolicyVersion(account_, "p", "1")), ErrorKind::kInvalidRequest);
  ASSERT_TRUE(registry_->setDefaultPolicyVersion(account_, "p", "3").ok());
  EXPECT_EQ(registry_->getPolicy(account_, "p")->default_version_id, "3");
  EXPECT_EQ(kindOf(registry_->deletePolicy(account_, "p")), ErrorKind::kDeleteConflict);
  for (const char* v : {"1", "2", "4", "5"}) {
    ASSERT_TRUE(registry_->deletePolicyVersion(account_, "p", v).ok());
  }
  // Ids are never reused.
  EXPECT_EQ(registry_->createPolicyVersion(account_, "p", kPolicy, false)->version_id, "6");
}

TEST_F(RegistryTest, AttachmentsAreLimitedAndBlockPolicyDeletion) {
  auto cert = newCertificate(false);
  for (int i = 0; i < 10; ++i) {
    std::string name = "p" + std::to_string(i);
    ASSERT_TRUE(registry_->createPolicy(account_, name, kPolicy).ok());
    ASSERT_TRUE(registry_->attachPolicy(account_, name, certArn(cert.id)).ok());
  }
  ASSERT_TRUE(registry_->attachPolicy(account_, "p0", certArn(cert.id)).ok());  // no-op
  ASSERT_TRUE(registry_->createPolicy(account_, "p10", kPolicy).ok());
  EXPECT_EQ(kindOf(registry_->attachPolicy(account_, "p10", certArn(cert.id))),
            ErrorKind::kLimitExceeded);
  EXPECT_EQ(kindOf(registry_->attachPolicy(account_, "p10", certArn(std::string(64, 'b')))),
            ErrorKind::kResourceNotFound);
  EXPECT_EQ(kindOf(registry_->deletePolicy(account_, "p0")), ErrorKind::kDeleteConflict);
  EXPECT_EQ(registry_->listAttachedPolicies(account_, certArn(cert.id), false, {std::nullopt, 25, true})
                ->items.size(),
            10u);
}

TEST_F(RegistryTest, FailedOperationsChangeNothingAndPublishNothing) {
  ASSERT_TRUE(registry_->createThing(account_, {"t", {}, {}, {}}).ok());
  published_.clear();
  EXPECT_FALSE(registry_->createThing(account_, {"t", {}, Attributes{{"x", "y"}}, {}}).ok());
  EXPECT_FALSE(registry_->updateThing(account_, {"t", "no-such-type", false, {}, false, {}}).ok());
  EXPECT_TRUE(published_.empty());
  EXPECT_EQ(registry_->describeThing(account_, "t")->version, 1);
}

TEST_F(RegistryTest, EventsArePublishedAfterCommit) {
  std::optional<std::int64_t> version_seen;
  events_.subscribe([&](const Event& e) {
    if (e.resource == EventResource::kThing && e.operation == Event::Operation::kUpdated) {
      version_seen = registry_->describeThing(account_, e.id)->version;
    }
  });
  ASSERT_TRUE(registry_->createThing(account_, {"t", {}, {}, {}}).ok());
  ASSERT_TRUE(registry_->updateThing(account_, {"t", {}, false, Attributes{{"a", "b"}}, false, {}}).ok());
  EXPECT_EQ(version_seen, 2);  // the subscriber already sees the committed change
}

TEST_F(RegistryTest, AccountsAreIsolated) {
  auto other = createAccount("210987654321", "AKIATESTTESTTEST0002");
  ASSERT_TRUE(registry_->createThing(account_, {"shared-name", {}, {}, {}}).ok());
  EXPECT_EQ(kindOf(registry_->describeThing(other, "shared-name")), ErrorKind::kResourceNotFound);
  EXPECT_TRUE(registry_->listThings(other, {}, {std::nullopt, 25, true})->items.empty());
  ASSERT_TRUE(registry_->createThing(other, {"shared-name", {}, Attributes{{"k", "v"}}, {}}).ok());
  EXPECT_TRUE(registry_->describeThing(account_, "shared-name")->attributes.empty());
  auto cert = newCertificate(false);
  EXPECT_EQ(kindOf(registry_->describeCertificate(other, cert.id)), ErrorKind::kResourceNotFound);
  EXPECT_FALSE(registry_->attachThingPrincipal(other, "shared-name", certArn(cert.id),
                                               "NON_EXCLUSIVE_THING")
                   .ok());

  ASSERT_TRUE(registry_->resetAccount(account_.id).ok());
  EXPECT_EQ(kindOf(registry_->describeThing(account_, "shared-name")), ErrorKind::kResourceNotFound);
  EXPECT_TRUE(registry_->describeThing(other, "shared-name").ok());
  auto key = registry_->findAccessKey("AKIATESTTESTTEST0001");
  ASSERT_TRUE(key.ok() && key->has_value());  // reset keeps the account and its keys
}

// The database holds access-key secrets only sealed; the registry hands them out in the clear.
TEST_F(RegistryTest, AccessKeySecretsAreSealedAtRest) {
  const std::string secret = "secretsecretsecretsecret123456789012";  // the fixture's
  std::vector<std::string> stored;
  auto readStored = [&] {
    stored.clear();
    ASSERT_TRUE(db_->read([&](store::Transaction& tx) -> Status {
                     FG_ASSIGN_OR_RETURN(auto rows,
                                         tx.query("SELECT secret_access_key FROM access_keys"));
                     for (const auto& row : rows) stored.push_back(row.text(0));
                     return {};
                   }).ok());
  };
  readStored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].find(secret), std::string::npos);
  EXPECT_TRUE(pki::SecretKeyring::isSealed(stored[0]));
  EXPECT_EQ(registry_->findAccessKey("AKIATESTTESTTEST0001")->value().secret_access_key, secret);
  EXPECT_EQ(sealedSecretKeyIds(*db_).value(), std::vector<std::string>{secrets_.currentKeyId()});

  // A secret an older fleetgate stored in plain text is sealed by resealSecrets().
  ASSERT_TRUE(db_->write([&](store::Transaction& tx) -> Status {
                   return tx.exec("UPDATE access_keys SET secret_access_key = ?", {secret}).ok()
                              ? Status{}
                              : internalError("update");
                 }).ok());
  EXPECT_EQ(sealedSecretKeyIds(*db_).value(), std::vector<std::string>{""});
  EXPECT_EQ(registry_->resealSecrets().value(), 1u);
  EXPECT_EQ(registry_->resealSecrets().value(), 0u);  // nothing left to do
  readStored();
  EXPECT_TRUE(pki::SecretKeyring::isSealed(stored[0]));

  // Rotation: re-sealed under the new key, still the same secret.
  const std::string old_key = secrets_.currentKeyId();
  secrets_.rotate();
  EXPECT_EQ(registry_->resealSecrets().value(), 1u);
  secrets_.dropOldKeys();
  EXPECT_EQ(sealedSecretKeyIds(*db_).value(), std::vector<std::string>{secrets_.currentKeyId()});
  EXPECT_NE(secrets_.currentKeyId(), old_key);
  EXPECT_EQ(registry_->findAccessKey("AKIATESTTESTTEST0001")->value().secret_access_key, secret);
}

TEST_F(RegistryTest, CertificateIndexFollowsRegistryChanges) {
  CertificateIndex index(*registry_, events_);
  auto cert = newCertificate(true);
  auto first = index.lookup(cert.id);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ((*first)->size(), 1u);
  EXPECT_EQ((**first)[0].status, CertificateStatus::kActive);
  EXPECT_EQ(index.size(), 1u);
  ASSERT_TRUE(registry_->updateCertificate(account_, cert.id, CertificateStatus::kInactive).ok());
  auto second = index.lookup(cert.id);
  EXPECT_EQ((**second)[0].status, CertificateStatus::kInactive);
  auto unknown = index.lookup(std::string(64, 'c'));
  EXPECT_TRUE((*unknown)->empty());
}

}  // namespace
}  // namespace fleetgate::registry
