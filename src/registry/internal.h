#pragma once

// Helpers shared by the registry's implementation files; not part of its interface.

#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "registry/model.h"
#include "store/database.h"

namespace fleetgate::registry::internal {

inline std::int64_t millis(TimePoint t) { return toEpochMillis(t); }
inline TimePoint timeOf(std::int64_t ms) { return fromEpochMillis(ms); }

std::string encodeAttributes(const Attributes& attributes);
Attributes decodeAttributes(const std::string& json);
std::string encodeStrings(const std::vector<std::string>& values);
std::vector<std::string> decodeStrings(const std::string& json);

// Opaque continuation tokens: base64 of the last key of the previous page.
std::string encodeToken(const std::string& key);
Result<std::string> decodeToken(const std::optional<std::string>& token);

// Keys of listings ordered by creation time then id: "<epoch ms>:<id>".
std::string creationKey(TimePoint created, const std::string& id);
Result<std::pair<std::int64_t, std::string>> parseCreationKey(const std::string& key);

// Cuts a query result fetched with LIMIT limit+1 into a page and the key that continues it.
template <typename T, typename KeyOf>
Page<T> makePage(std::vector<T> items, int limit, KeyOf key_of) {
  Page<T> page;
  if (static_cast<int>(items.size()) > limit) {
    items.resize(static_cast<std::size_t>(limit));
    page.next = encodeToken(key_of(items.back()));
  }
  page.items = std::move(items);
  return page;
}

Error notFound(std::string_view what, std::string_view name);

// Provisioning templates, whether stored as templates or inline in a CA's registrationConfig.
Status validateTemplateBody(const std::string& body);
Status validateRoleArn(const std::string& arn, std::string_view field);

}  // namespace fleetgate::registry::internal

namespace fleetgate::registry::internal {

Result<std::optional<CaCertificate>> loadCaCertificate(store::Transaction& tx, const Account& a,
                                                       std::string_view id);
Result<std::optional<Certificate>> loadCertificateRecord(store::Transaction& tx, const Account& a,
                                                         std::string_view id);
// The account's CA certificates whose subject DER (hex) is `subject_hex`.
Result<std::vector<CaCertificate>> loadCaCertificatesBySubject(store::Transaction& tx,
                                                               const Account& a,
                                                               const std::string& subject_hex);

}  // namespace fleetgate::registry::internal
