// Things, thing types and thing groups (spec §1.4).
#include <algorithm>
#include <set>

#include "registry/internal.h"
#include "registry/registry.h"
#include "registry/validation.h"

namespace fleetgate::registry {

using internal::millis;
using internal::timeOf;

namespace {

constexpr std::size_t kMaxAttributesWithoutType = 3;
constexpr std::size_t kMaxAttributesWithType = 50;
constexpr std::size_t kMaxSearchableAttributes = 3;
constexpr std::size_t kMaxGroupsPerThing = 10;
constexpr int kMaxGroupDepth = 7;

constexpr const char* kThingColumns =
    "name, id, type_name, attributes, version, billing_group FROM things";

Thing thingFrom(const store::Row& row) {
  Thing t;
  t.name = row.text(0);
  t.id = row.text(1);
  t.type_name = row.optionalText(2);
  t.attributes = internal::decodeAttributes(row.text(3));
  t.version = row.integer(4);
  t.billing_group = row.optionalText(5);
  return t;
}

Result<std::optional<Thing>> loadThing(store::Transaction& tx, const Account& a,
                                       std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kThingColumns +
                                                " WHERE account_id = ? AND name = ?",
                                            {a.id, std::string(name)}));
  if (!row) return std::optional<Thing>();
  return std::optional<Thing>(thingFrom(*row));
}

constexpr const char* kTypeColumns =
    "name, id, description, searchable_attributes, deprecated, deprecation_date, created_at "
    "FROM thing_types";

ThingType typeFrom(const store::Row& row) {
  ThingType t;
  t.name = row.text(0);
  t.id = row.text(1);
  t.description = row.optionalText(2);
  t.searchable_attributes = internal::decodeStrings(row.text(3));
  t.deprecated = row.integer(4) != 0;
  if (!row.isNull(5)) t.deprecation_date = timeOf(row.integer(5));
  t.creation_date = timeOf(row.integer(6));
  return t;
}

Result<std::optional<ThingType>> loadType(store::Transaction& tx, const Account& a,
                                          std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kTypeColumns +
                                                " WHERE account_id = ? AND name = ?",
                                            {a.id, std::string(name)}));
  if (!row) return std::optional<ThingType>();
  return std::optional<ThingType>(typeFrom(*row));
}

// A thing may only be given a type that exists and is not deprecated.
Status checkUsableType(store::Transaction& tx, const Account& a, const std::string& name) {
  FG_ASSIGN_OR_RETURN(auto type, loadType(tx, a, name));
  if (!type) return internal::notFound("Thing type", name);
  if (type->deprecated) {
    return Error(ErrorKind::kInvalidRequest,
                 "Can not create a new thing with deprecated thing type " + name);
  }
  return {};
}

Status checkAttributeCount(const Attributes& attributes, bool has_type) {
  std::size_t max = has_type ? kMaxAttributesWithType : kMaxAttributesWithoutType;
  if (attributes.size() > max) {
    return Error(ErrorKind::kInvalidRequest,
                 "A thing " + std::string(has_type ? "with" : "without") +
                     " a thing type can have at most " + std::to_string(max) + " attributes.");
  }
  return {};
}

Attributes withoutEmptyValues(Attributes attributes) {
  std::erase_if(attributes, [](const auto& kv) { return kv.second.empty(); });
  return attributes;
}

constexpr const char* kGroupColumns =
    "name, id, parent, description, attributes, version, created_at FROM thing_groups";

ThingGroup groupFrom(const store::Row& row) {
  ThingGroup g;
  g.name = row.text(0);
  g.id = row.text(1);
  g.parent = row.optionalText(2);
  g.description = row.optionalText(3);
  g.attributes = internal::decodeAttributes(row.text(4));
  g.version = row.integer(5);
  g.creation_date = timeOf(row.integer(6));
  return g;
}

Result<std::optional<ThingGroup>> loadGroup(store::Transaction& tx, const Account& a,
                                            std::string_view name) {
  FG_ASSIGN_OR_RETURN(auto row, tx.queryOne(std::string("SELECT ") + kGroupColumns +
                                                " WHERE account_id = ? AND name = ?",
                                            {a.id, std::string(name)}));
  if (!row) return std::optional<ThingGroup>();
  return std::optional<ThingGroup>(groupFrom(*row));
}

// Ancestors of a group, root first.
Result<std::vector<std::string>> ancestorsOf(store::Transaction& tx, const Account& a,
                                             std::optional<std::string> parent) {
  std::vector<std::string> chain;
  while (parent && chain.size() <= static_cast<std::size_t>(kMaxGroupDepth)) {
    chain.push_back(*parent);
    FG_ASSIGN_OR_RETURN(auto group, loadGroup(tx, a, *parent));
    parent = group ? group->parent : std::nullopt;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

// The group and all groups below it.
Result<std::vector<std::string>> subtreeOf(store::Transaction& tx, const Account& a,
                                           const std::string& root) {
  std::vector<std::string> out{root};
  for (std::size_t i = 0; i < out.size(); ++i) {
    FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT name FROM thing_groups WHERE account_id = ? "
                                            "AND parent = ? ORDER BY name",
                                            {a.id, out[i]}));
    for (const auto& row : rows) out.push_back(row.text(0));
  }
  return out;
}

Status requireGroupAndThing(store::Transaction& tx, const Account& a, const std::string& group,
                            const std::string& thing) {
  FG_ASSIGN_OR_RETURN(auto g, loadGroup(tx, a, group));
  if (!g) return internal::notFound("Thing group", group);
  FG_ASSIGN_OR_RETURN(auto t, loadThing(tx, a, thing));
  if (!t) return internal::notFound("Thing", thing);
  return {};
}

}  // namespace

// ---- Things ----

Result<Thing> Registry::createThingTx(store::Transaction& tx, std::vector<Event>& events,
                                      const Account& a, const CreateThingInput& input) {
  FG_RETURN_IF_ERROR(validateThingName(input.name));
  Attributes attributes = withoutEmptyValues(input.attributes.value_or(Attributes{}));
  FG_RETURN_IF_ERROR(validateAttributes(attributes));
  FG_RETURN_IF_ERROR(checkAttributeCount(attributes, input.type_name.has_value()));
  if (input.type_name) FG_RETURN_IF_ERROR(checkUsableType(tx, a, *input.type_name));
  if (input.billing_group) return internal::notFound("Billing group", *input.billing_group);
  FG_ASSIGN_OR_RETURN(auto existing, loadThing(tx, a, input.name));
  if (existing) {
    if (existing->type_name == input.type_name && existing->attributes == attributes) {
      return *existing;  // CreateThing is idempotent for an identical configuration.
    }
    return Error(ErrorKind::kResourceAlreadyExists,
                 "Thing " + input.name + " already exists in account with different attributes")
        .withResource(existing->id, a.arn("thing", input.name));
  }
  Thing thing{input.name, deps_.random.uuid(), input.type_name, attributes, 1, std::nullopt};
  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO things (account_id, name, id, type_name, attributes, "
                             "version, billing_group, created_at) VALUES (?,?,?,?,?,?,?,?)",
                             {a.id, thing.name, thing.id,
                              input.type_name ? store::Value(*input.type_name) : nullptr,
                              internal::encodeAttributes(attributes), std::int64_t{1}, nullptr,
                              millis(deps_.clock.now())}));
  events.push_back({Event::Operation::kCreated, EventResource::kThing, a.id, thing.name});
  return thing;
}

Result<Thing> Registry::createThing(const Account& a, const CreateThingInput& input) {
  Thing thing;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(thing, createThingTx(tx, events, a, input));
    return {};
  }));
  return thing;
}

Result<Thing> Registry::describeThing(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateThingName(name));
  std::optional<Thing> thing;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(thing, loadThing(tx, a, name));
    return {};
  }));
  if (!thing) return internal::notFound("Thing", name);
  return *thing;
}

Status Registry::updateThing(const Account& a, const UpdateThingInput& input) {
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    return updateThingTx(tx, events, a, input);
  });
}

Status Registry::updateThingTx(store::Transaction& tx, std::vector<Event>& events,
                               const Account& a, const UpdateThingInput& input) {
  FG_RETURN_IF_ERROR(validateThingName(input.name));
  if (input.remove_type && input.type_name) {
    return Error(ErrorKind::kInvalidRequest,
                 "Cannot both set thingTypeName and removeThingType in one request.");
  }
  if (input.attributes) FG_RETURN_IF_ERROR(validateAttributes(*input.attributes));
  FG_ASSIGN_OR_RETURN(auto thing, loadThing(tx, a, input.name));
  if (!thing) return internal::notFound("Thing", input.name);
  if (input.expected_version && *input.expected_version != thing->version) {
    return Error(ErrorKind::kVersionConflict,
                 "The version for thing " + input.name + " does not match the expected version.");
  }
  if (input.type_name) {
    FG_RETURN_IF_ERROR(checkUsableType(tx, a, *input.type_name));
    thing->type_name = input.type_name;
  }
  if (input.remove_type) thing->type_name.reset();
  if (input.attributes) {
    if (input.merge) {
      for (const auto& [k, v] : *input.attributes) {
        if (v.empty()) {
          thing->attributes.erase(k);
        } else {
          thing->attributes[k] = v;
        }
      }
    } else {
      thing->attributes = withoutEmptyValues(*input.attributes);
    }
  }
  FG_RETURN_IF_ERROR(checkAttributeCount(thing->attributes, thing->type_name.has_value()));
  FG_RETURN_IF_ERROR(tx.exec(
      "UPDATE things SET type_name = ?, attributes = ?, version = version + 1 WHERE "
      "account_id = ? AND name = ?",
      {thing->type_name ? store::Value(*thing->type_name) : nullptr,
       internal::encodeAttributes(thing->attributes), a.id, input.name}));
  events.push_back({Event::Operation::kUpdated, EventResource::kThing, a.id, input.name});
  return {};
}

Status Registry::deleteThing(const Account& a, std::string_view name,
                             std::optional<std::int64_t> expected_version) {
  FG_RETURN_IF_ERROR(validateThingName(name));
  std::string thing_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto thing, loadThing(tx, a, thing_name));
    if (!thing) return {};  // Deleting a thing that does not exist succeeds.
    if (expected_version && *expected_version != thing->version) {
      return Error(ErrorKind::kVersionConflict,
                   "The version for thing " + thing_name + " does not match the expected version.");
    }
    FG_ASSIGN_OR_RETURN(auto principal,
                        tx.queryOne("SELECT 1 FROM thing_principals WHERE account_id = ? AND "
                                    "thing_name = ? LIMIT 1",
                                    {a.id, thing_name}));
    if (principal) {
      return Error(ErrorKind::kInvalidRequest,
                   "Cannot delete. Thing " + thing_name +
                       " is still attached to one or more principals");
    }
    FG_RETURN_IF_ERROR(tx.exec(
        "DELETE FROM thing_group_members WHERE account_id = ? AND thing_name = ?", {a.id, thing_name}));
    FG_RETURN_IF_ERROR(
        tx.exec("DELETE FROM things WHERE account_id = ? AND name = ?", {a.id, thing_name}));
    events.push_back({Event::Operation::kDeleted, EventResource::kThing, a.id, thing_name});
    return {};
  });
}

Result<Page<Thing>> Registry::listThings(const Account& a, const ListThingsFilter& filter,
                                         const PageRequest& page) {
  if (filter.attribute_value && !filter.attribute_name) {
    return Error(ErrorKind::kInvalidRequest, "attributeValue requires attributeName.");
  }
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  auto matches = [&](const Thing& t) {
    if (filter.type_name && t.type_name != filter.type_name) return false;
    if (!filter.attribute_name) return true;
    auto it = t.attributes.find(*filter.attribute_name);
    if (it == t.attributes.end()) return false;
    if (!filter.attribute_value) return true;
    if (filter.use_prefix_attribute_value) return it->second.starts_with(*filter.attribute_value);
    return it->second == *filter.attribute_value;
  };
  std::vector<Thing> things;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    // Scan in name order in bounded chunks until one more match than the page holds.
    constexpr std::int64_t kChunk = 500;
    std::string cursor = after;
    while (static_cast<int>(things.size()) <= page.limit) {
      FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kThingColumns +
                                                  " WHERE account_id = ? AND name > ? ORDER BY "
                                                  "name LIMIT ?",
                                              {a.id, cursor, kChunk}));
      for (const auto& row : rows) {
        Thing t = thingFrom(row);
        if (matches(t)) things.push_back(std::move(t));
        if (static_cast<int>(things.size()) > page.limit) break;
      }
      if (static_cast<std::int64_t>(rows.size()) < kChunk) break;
      cursor = rows.back().text(0);
    }
    return {};
  }));
  return internal::makePage(std::move(things), page.limit, [](const Thing& t) { return t.name; });
}

// ---- Thing types ----

Result<ThingType> Registry::createThingType(const Account& a, const std::string& name,
                                            std::optional<std::string> description,
                                            std::vector<std::string> searchable_attributes) {
  FG_RETURN_IF_ERROR(validateThingName(name, "thingTypeName"));
  if (searchable_attributes.size() > kMaxSearchableAttributes) {
    return Error(ErrorKind::kInvalidRequest, "A thing type has at most 3 searchable attributes.");
  }
  if (description && description->size() > 2028) {
    return Error(ErrorKind::kInvalidRequest, "thingTypeDescription is too long.");
  }
  ThingType type;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, loadType(tx, a, name));
    if (existing) {
      return Error(ErrorKind::kResourceAlreadyExists, "Thing type " + name + " already exists")
          .withResource(existing->id, a.arn("thingtype", name));
    }
    type = ThingType{name,  deps_.random.uuid(), description, searchable_attributes, false,
                     std::nullopt, deps_.clock.now()};
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO thing_types (account_id, name, id, description, searchable_attributes, "
        "created_at) VALUES (?,?,?,?,?,?)",
        {a.id, name, type.id, description ? store::Value(*description) : nullptr,
         internal::encodeStrings(searchable_attributes), millis(type.creation_date)}));
    events.push_back({Event::Operation::kCreated, EventResource::kThingType, a.id, name});
    return {};
  }));
  return type;
}

Result<ThingType> Registry::describeThingType(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateThingName(name, "thingTypeName"));
  std::optional<ThingType> type;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(type, loadType(tx, a, name));
    return {};
  }));
  if (!type) return internal::notFound("Thing type", name);
  return *type;
}

Result<Page<ThingType>> Registry::listThingTypes(const Account& a, std::optional<std::string> name,
                                                 const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<ThingType> types;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto rows,
                        tx.query(std::string("SELECT ") + kTypeColumns +
                                     " WHERE account_id = ? AND name > ? AND (? IS NULL OR name "
                                     "= ?) ORDER BY name LIMIT ?",
                                 {a.id, after, name ? store::Value(*name) : nullptr,
                                  name ? store::Value(*name) : nullptr,
                                  std::int64_t{page.limit + 1}}));
    for (const auto& row : rows) types.push_back(typeFrom(row));
    return {};
  }));
  return internal::makePage(std::move(types), page.limit,
                            [](const ThingType& t) { return t.name; });
}

Status Registry::deprecateThingType(const Account& a, std::string_view name, bool undo) {
  FG_RETURN_IF_ERROR(validateThingName(name, "thingTypeName"));
  std::string type_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto type, loadType(tx, a, type_name));
    if (!type) return internal::notFound("Thing type", type_name);
    FG_RETURN_IF_ERROR(tx.exec(
        "UPDATE thing_types SET deprecated = ?, deprecation_date = ? WHERE account_id = ? AND "
        "name = ?",
        {std::int64_t{undo ? 0 : 1},
         undo ? store::Value(nullptr) : store::Value(millis(deps_.clock.now())), a.id, type_name}));
    events.push_back({Event::Operation::kUpdated, EventResource::kThingType, a.id, type_name});
    return {};
  });
}

Status Registry::deleteThingType(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateThingName(name, "thingTypeName"));
  std::string type_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto type, loadType(tx, a, type_name));
    if (!type) return internal::notFound("Thing type", type_name);
    if (!type->deprecated) {
      return Error(ErrorKind::kInvalidRequest,
                   "Thing type " + type_name + " must be deprecated before it can be deleted.");
    }
    FG_ASSIGN_OR_RETURN(auto user, tx.queryOne("SELECT 1 FROM things WHERE account_id = ? AND "
                                               "type_name = ? LIMIT 1",
                                               {a.id, type_name}));
    if (user) {
      return Error(ErrorKind::kInvalidRequest,
                   "Can not delete thing type " + type_name + " with things associated to it.");
    }
    FG_RETURN_IF_ERROR(
        tx.exec("DELETE FROM thing_types WHERE account_id = ? AND name = ?", {a.id, type_name}));
    events.push_back({Event::Operation::kDeleted, EventResource::kThingType, a.id, type_name});
    return {};
  });
}

// ---- Thing groups ----

Result<ThingGroup> Registry::createThingGroup(const Account& a, const CreateThingGroupInput& input) {
  FG_RETURN_IF_ERROR(validateThingName(input.name, "thingGroupName"));
  if (input.parent) FG_RETURN_IF_ERROR(validateThingName(*input.parent, "parentGroupName"));
  Attributes attributes = withoutEmptyValues(input.attributes);
  FG_RETURN_IF_ERROR(validateAttributes(attributes));
  ThingGroup group;
  FG_RETURN_IF_ERROR(write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto existing, loadGroup(tx, a, input.name));
    if (existing) {
      if (existing->parent == input.parent && existing->description == input.description &&
          existing->attributes == attributes) {
        group = *existing;  // identical group: CreateThingGroup answers with it
        return {};
      }
      return Error(ErrorKind::kResourceAlreadyExists,
                   "Thing group " + input.name + " already exists with different properties")
          .withResource(existing->id, a.arn("thinggroup", input.name));
    }
    if (input.parent) {
      FG_ASSIGN_OR_RETURN(auto parent, loadGroup(tx, a, *input.parent));
      if (!parent) return internal::notFound("Thing group", *input.parent);
      FG_ASSIGN_OR_RETURN(auto ancestors, ancestorsOf(tx, a, input.parent));
      if (ancestors.size() >= static_cast<std::size_t>(kMaxGroupDepth)) {
        return Error(ErrorKind::kInvalidRequest, "Thing group hierarchy depth is at most 7.");
      }
      FG_ASSIGN_OR_RETURN(auto children, tx.queryOne("SELECT COUNT(*) FROM thing_groups WHERE "
                                                     "account_id = ? AND parent = ?",
                                                     {a.id, *input.parent}));
      if (children->integer(0) >= 100) {
        return Error(ErrorKind::kLimitExceeded, "A thing group has at most 100 direct children.");
      }
    }
    group = ThingGroup{input.name, deps_.random.uuid(), input.parent, input.description,
                       attributes, 1, deps_.clock.now(), {}};
    FG_RETURN_IF_ERROR(tx.exec(
        "INSERT INTO thing_groups (account_id, name, id, parent, description, attributes, "
        "version, created_at) VALUES (?,?,?,?,?,?,?,?)",
        {a.id, group.name, group.id, input.parent ? store::Value(*input.parent) : nullptr,
         input.description ? store::Value(*input.description) : nullptr,
         internal::encodeAttributes(attributes), std::int64_t{1}, millis(group.creation_date)}));
    events.push_back({Event::Operation::kCreated, EventResource::kThingGroup, a.id, group.name});
    return {};
  }));
  return group;
}

Result<ThingGroup> Registry::describeThingGroup(const Account& a, std::string_view name) {
  FG_RETURN_IF_ERROR(validateThingName(name, "thingGroupName"));
  std::optional<ThingGroup> group;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(group, loadGroup(tx, a, name));
    if (group) {
      FG_ASSIGN_OR_RETURN(group->ancestors, ancestorsOf(tx, a, group->parent));
    }
    return {};
  }));
  if (!group) return internal::notFound("Thing group", name);
  return *group;
}

Result<Page<ThingGroup>> Registry::listThingGroups(const Account& a,
                                                   const ListThingGroupsFilter& filter,
                                                   const PageRequest& page) {
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<ThingGroup> groups;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    std::optional<std::set<std::string>> allowed;
    if (filter.parent) {
      FG_ASSIGN_OR_RETURN(auto parent, loadGroup(tx, a, *filter.parent));
      if (!parent) return internal::notFound("Thing group", *filter.parent);
      FG_ASSIGN_OR_RETURN(auto subtree, subtreeOf(tx, a, *filter.parent));
      allowed.emplace(subtree.begin() + 1, subtree.end());
    }
    FG_ASSIGN_OR_RETURN(auto rows, tx.query(std::string("SELECT ") + kGroupColumns +
                                                " WHERE account_id = ? AND name > ? ORDER BY name",
                                            {a.id, after}));
    for (const auto& row : rows) {
      ThingGroup g = groupFrom(row);
      if (allowed && !allowed->contains(g.name)) continue;
      if (filter.parent && !filter.recursive && g.parent != filter.parent) continue;
      if (!filter.parent && !filter.recursive && g.parent) continue;
      if (filter.name_prefix && !g.name.starts_with(*filter.name_prefix)) continue;
      groups.push_back(std::move(g));
      if (static_cast<int>(groups.size()) > page.limit) break;
    }
    return {};
  }));
  return internal::makePage(std::move(groups), page.limit,
                            [](const ThingGroup& g) { return g.name; });
}

Status Registry::deleteThingGroup(const Account& a, std::string_view name,
                                  std::optional<std::int64_t> expected_version) {
  FG_RETURN_IF_ERROR(validateThingName(name, "thingGroupName"));
  std::string group_name(name);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    FG_ASSIGN_OR_RETURN(auto group, loadGroup(tx, a, group_name));
    if (!group) return {};  // like DeleteThing, deleting a missing group succeeds
    if (expected_version && *expected_version != group->version) {
      return Error(ErrorKind::kVersionConflict, "The version for thing group " + group_name +
                                                    " does not match the expected version.");
    }
    FG_ASSIGN_OR_RETURN(auto child, tx.queryOne("SELECT 1 FROM thing_groups WHERE account_id = ? "
                                                "AND parent = ? LIMIT 1",
                                                {a.id, group_name}));
    if (child) {
      return Error(ErrorKind::kInvalidRequest,
                   "Cannot delete thing group " + group_name + " while it has child groups.");
    }
    std::string arn = a.arn("thinggroup", group_name);
    FG_RETURN_IF_ERROR(tx.exec("DELETE FROM policy_targets WHERE account_id = ? AND target = ?",
                               {a.id, arn}));
    FG_RETURN_IF_ERROR(tx.exec(
        "DELETE FROM thing_group_members WHERE account_id = ? AND group_name = ?", {a.id, group_name}));
    FG_RETURN_IF_ERROR(
        tx.exec("DELETE FROM thing_groups WHERE account_id = ? AND name = ?", {a.id, group_name}));
    events.push_back({Event::Operation::kDeleted, EventResource::kThingGroup, a.id, group_name});
    return {};
  });
}

Status Registry::addThingToThingGroup(const Account& a, std::string_view group,
                                      std::string_view thing) {
  FG_RETURN_IF_ERROR(validateThingName(group, "thingGroupName"));
  FG_RETURN_IF_ERROR(validateThingName(thing));
  std::string group_name(group), thing_name(thing);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    return addThingToThingGroupTx(tx, events, a, group_name, thing_name);
  });
}

Status Registry::addThingToThingGroupTx(store::Transaction& tx, std::vector<Event>& events,
                                        const Account& a, const std::string& group_name,
                                        const std::string& thing_name) {
  FG_RETURN_IF_ERROR(validateThingName(group_name, "thingGroupName"));
  FG_RETURN_IF_ERROR(validateThingName(thing_name));
  FG_RETURN_IF_ERROR(requireGroupAndThing(tx, a, group_name, thing_name));
  FG_ASSIGN_OR_RETURN(auto member, tx.queryOne("SELECT 1 FROM thing_group_members WHERE "
                                               "account_id = ? AND group_name = ? AND "
                                               "thing_name = ?",
                                               {a.id, group_name, thing_name}));
  if (member) return {};
  FG_ASSIGN_OR_RETURN(auto count, tx.queryOne("SELECT COUNT(*) FROM thing_group_members WHERE "
                                              "account_id = ? AND thing_name = ?",
                                              {a.id, thing_name}));
  if (static_cast<std::size_t>(count->integer(0)) >= kMaxGroupsPerThing) {
    return Error(ErrorKind::kInvalidRequest, "A thing can be in at most 10 thing groups.");
  }
  FG_RETURN_IF_ERROR(tx.exec("INSERT INTO thing_group_members (account_id, group_name, "
                             "thing_name) VALUES (?,?,?)",
                             {a.id, group_name, thing_name}));
  events.push_back({Event::Operation::kUpdated, EventResource::kThingGroup, a.id, group_name});
  return {};
}

Status Registry::removeThingFromThingGroup(const Account& a, std::string_view group,
                                           std::string_view thing) {
  FG_RETURN_IF_ERROR(validateThingName(group, "thingGroupName"));
  FG_RETURN_IF_ERROR(validateThingName(thing));
  std::string group_name(group), thing_name(thing);
  return write([&](store::Transaction& tx, std::vector<Event>& events) -> Status {
    return removeThingFromThingGroupTx(tx, events, a, group_name, thing_name);
  });
}

Status Registry::removeThingFromThingGroupTx(store::Transaction& tx, std::vector<Event>& events,
                                             const Account& a, const std::string& group_name,
                                             const std::string& thing_name) {
  FG_RETURN_IF_ERROR(requireGroupAndThing(tx, a, group_name, thing_name));
  FG_ASSIGN_OR_RETURN(auto removed, tx.exec("DELETE FROM thing_group_members WHERE account_id "
                                            "= ? AND group_name = ? AND thing_name = ?",
                                            {a.id, group_name, thing_name}));
  if (removed > 0) events.push_back({Event::Operation::kUpdated, EventResource::kThingGroup, a.id, group_name});
  return {};
}

Result<Page<std::string>> Registry::listThingsInThingGroup(const Account& a,
                                                           std::string_view group, bool recursive,
                                                           const PageRequest& page) {
  FG_RETURN_IF_ERROR(validateThingName(group, "thingGroupName"));
  FG_ASSIGN_OR_RETURN(std::string after, internal::decodeToken(page.token));
  std::vector<std::string> names;
  FG_RETURN_IF_ERROR(read([&](store::Transaction& tx) -> Status {
    FG_ASSIGN_OR_RETURN(auto g, loadGroup(tx, a, group));
    if (!g) return internal::notFound("Thing group", group);
    std::vector<std::string> groups{std::string(group)};
    if (recursive) {
      FG_ASSIGN_OR_RETURN(groups, subtreeOf(tx, a, std::string(group)));
    }
    std::set<std::string> members;
    for (const auto& name : groups) {
      FG_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT thing_name FROM thing_group_members WHERE "
                                              "account_id = ? AND group_name = ? AND thing_name "
                                              "> ?",
                                              {a.id, name, after}));
      for (const auto& row : rows) members.insert(row.text(0));
    }
    for (const auto& m : members) {
      names.push_back(m);
      if (static_cast<int>(names.size()) > page.limit) break;
    }
    return {};
  }));
  return internal::makePage(std::move(names), page.limit, [](const std::string& n) { return n; });
}

}  // namespace fleetgate::registry
