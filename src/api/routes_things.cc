// Things, thing types and thing groups (spec §1.4).
#include "api/routes.h"
#include "registry/validation.h"

namespace fleetgate::api {

using registry::Registry;

namespace {

Json thingJson(const registry::Account& a, const registry::Thing& t) {
  Json j{{"thingName", t.name},
         {"thingId", t.id},
         {"thingArn", a.arn("thing", t.name)},
         {"attributes", t.attributes},
         {"version", t.version},
         {"defaultClientId", t.name}};
  if (t.type_name) j["thingTypeName"] = *t.type_name;
  return j;
}

Json thingTypeJson(const registry::Account& a, const registry::ThingType& t) {
  Json properties{{"searchableAttributes", t.searchable_attributes}};
  if (t.description) properties["thingTypeDescription"] = *t.description;
  Json metadata{{"deprecated", t.deprecated}, {"creationDate", toEpochSeconds(t.creation_date)}};
  if (t.deprecation_date) metadata["deprecationDate"] = toEpochSeconds(*t.deprecation_date);
  return Json{{"thingTypeName", t.name},
              {"thingTypeId", t.id},
              {"thingTypeArn", a.arn("thingtype", t.name)},
              {"thingTypeProperties", properties},
              {"thingTypeMetadata", metadata}};
}

// `attributePayload` = {"attributes": {...}, "merge": bool}.
Result<std::optional<registry::Attributes>> attributesOf(const std::optional<Json>& payload,
                                                         bool* merge) {
  if (!payload) return std::optional<registry::Attributes>();
  registry::Attributes attributes;
  if (auto it = payload->find("attributes"); it != payload->end() && !it->is_null()) {
    if (!it->is_object()) {
      return Error(ErrorKind::kInvalidRequest, "attributePayload.attributes must be an object.");
    }
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) {
        return Error(ErrorKind::kInvalidRequest, "Attribute values must be strings.");
      }
      attributes[k] = v.get<std::string>();
    }
  }
  if (merge) {
    auto it = payload->find("merge");
    if (it != payload->end() && !it->is_boolean()) {
      return Error(ErrorKind::kInvalidRequest, "attributePayload.merge must be a boolean.");
    }
    *merge = it != payload->end() && it->get<bool>();
  }
  return std::optional<registry::Attributes>(std::move(attributes));
}

// A group or thing named directly or by ARN, as AddThingToThingGroup accepts. An ARN must name
// a resource of `kind` in the caller's account and region.
Result<std::string> nameOrArn(ApiRequest& r, const std::string& name_member,
                              const std::string& arn_member, std::string_view kind) {
  FG_ASSIGN_OR_RETURN(auto name, r.bodyString(name_member));
  if (name) return *name;
  FG_ASSIGN_OR_RETURN(auto arn, r.bodyString(arn_member));
  if (!arn) {
    return Error(ErrorKind::kInvalidRequest,
                 "Either " + name_member + " or " + arn_member + " is required.");
  }
  auto parsed = registry::parseArn(*arn);
  if (!parsed || parsed->kind != kind) {
    return Error(ErrorKind::kInvalidRequest, arn_member + " is not a valid ARN.");
  }
  if (parsed->account != r.account().id || parsed->region != r.account().region) {
    return Error(ErrorKind::kInvalidRequest,
                 arn_member + " names a resource of another account or region.");
  }
  return parsed->name;
}

}  // namespace

void addThingRoutes(Router& router, Registry& registry) {
  router.add("POST", "/things/{thingName}", "CreateThing", [&](ApiRequest& r) -> Result<Json> {
    registry::CreateThingInput input;
    input.name = r.path("thingName");
    FG_ASSIGN_OR_RETURN(input.type_name, r.bodyString("thingTypeName"));
    FG_ASSIGN_OR_RETURN(input.billing_group, r.bodyString("billingGroupName"));
    FG_ASSIGN_OR_RETURN(auto payload, r.bodyObject("attributePayload"));
    FG_ASSIGN_OR_RETURN(input.attributes, attributesOf(payload, nullptr));
    FG_ASSIGN_OR_RETURN(auto thing, registry.createThing(r.account(), input));
    return Json{{"thingName", thing.name},
                {"thingArn", r.account().arn("thing", thing.name)},
                {"thingId", thing.id}};
  });
  router.add("GET", "/things/{thingName}", "DescribeThing", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto thing, registry.describeThing(r.account(), r.path("thingName")));
    return thingJson(r.account(), thing);
  });
  router.add("PATCH", "/things/{thingName}", "UpdateThing", [&](ApiRequest& r) -> Result<Json> {
    registry::UpdateThingInput input;
    input.name = r.path("thingName");
    FG_ASSIGN_OR_RETURN(input.type_name, r.bodyString("thingTypeName"));
    FG_ASSIGN_OR_RETURN(auto remove, r.bodyBool("removeThingType"));
    input.remove_type = remove.value_or(false);
    FG_ASSIGN_OR_RETURN(input.expected_version, r.bodyInt("expectedVersion"));
    FG_ASSIGN_OR_RETURN(auto payload, r.bodyObject("attributePayload"));
    FG_ASSIGN_OR_RETURN(input.attributes, attributesOf(payload, &input.merge));
    FG_RETURN_IF_ERROR(registry.updateThing(r.account(), input));
    return Json();
  });
  router.add("DELETE", "/things/{thingName}", "DeleteThing", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto expected, r.queryInt("expectedVersion", 0, INT64_MAX));
    FG_RETURN_IF_ERROR(registry.deleteThing(r.account(), r.path("thingName"), expected));
    return Json();
  });
  router.add("GET", "/things", "ListThings", [&](ApiRequest& r) -> Result<Json> {
    registry::ListThingsFilter filter{r.query("attributeName"), r.query("attributeValue"),
                                      r.query("thingTypeName"), false};
    FG_ASSIGN_OR_RETURN(auto prefix, r.queryBool("usePrefixAttributeValue"));
    filter.use_prefix_attribute_value = prefix.value_or(false);
    FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 50));
    FG_ASSIGN_OR_RETURN(auto things, registry.listThings(r.account(), filter, page));
    Json items = Json::array();
    for (const auto& t : things.items) {
      Json j = thingJson(r.account(), t);
      j.erase("thingId");
      j.erase("defaultClientId");
      items.push_back(std::move(j));
    }
    return withToken(Json{{"things", items}}, things);
  });

  router.add("POST", "/thing-types/{thingTypeName}", "CreateThingType",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto properties, r.bodyObject("thingTypeProperties"));
               std::optional<std::string> description;
               std::vector<std::string> searchable;
               if (properties) {
                 auto d = properties->find("thingTypeDescription");
                 if (d != properties->end() && d->is_string()) description = d->get<std::string>();
                 auto s = properties->find("searchableAttributes");
                 if (s != properties->end()) {
                   if (!s->is_array()) {
                     return Error(ErrorKind::kInvalidRequest,
                                  "searchableAttributes must be a list of strings.");
                   }
                   for (const auto& v : *s) {
                     if (!v.is_string()) {
                       return Error(ErrorKind::kInvalidRequest,
                                    "searchableAttributes must be a list of strings.");
                     }
                     searchable.push_back(v.get<std::string>());
                   }
                 }
               }
               FG_ASSIGN_OR_RETURN(auto type,
                                   registry.createThingType(r.account(), r.path("thingTypeName"),
                                                            description, searchable));
               return Json{{"thingTypeName", type.name},
                           {"thingTypeArn", r.account().arn("thingtype", type.name)},
                           {"thingTypeId", type.id}};
             });
  router.add("GET", "/thing-types/{thingTypeName}", "DescribeThingType",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto type,
                                   registry.describeThingType(r.account(), r.path("thingTypeName")));
               return thingTypeJson(r.account(), type);
             });
  router.add("GET", "/thing-types", "ListThingTypes", [&](ApiRequest& r) -> Result<Json> {
    FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 50));
    FG_ASSIGN_OR_RETURN(auto types,
                        registry.listThingTypes(r.account(), r.query("thingTypeName"), page));
    Json items = Json::array();
    for (const auto& t : types.items) {
      Json j = thingTypeJson(r.account(), t);
      j.erase("thingTypeId");
      items.push_back(std::move(j));
    }
    return withToken(Json{{"thingTypes", items}}, types);
  });
  router.add("POST", "/thing-types/{thingTypeName}/deprecate", "DeprecateThingType",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto undo, r.bodyBool("undoDeprecate"));
               FG_RETURN_IF_ERROR(registry.deprecateThingType(
                   r.account(), r.path("thingTypeName"), undo.value_or(false)));
               return Json();
             });
  router.add("DELETE", "/thing-types/{thingTypeName}", "DeleteThingType",
             [&](ApiRequest& r) -> Result<Json> {
               FG_RETURN_IF_ERROR(registry.deleteThingType(r.account(), r.path("thingTypeName")));
               return Json();
             });

  router.add("POST", "/thing-groups/{thingGroupName}", "CreateThingGroup",
             [&](ApiRequest& r) -> Result<Json> {
               registry::CreateThingGroupInput input;
               input.name = r.path("thingGroupName");
               FG_ASSIGN_OR_RETURN(input.parent, r.bodyString("parentGroupName"));
               FG_ASSIGN_OR_RETURN(auto properties, r.bodyObject("thingGroupProperties"));
               if (properties) {
                 auto d = properties->find("thingGroupDescription");
                 if (d != properties->end() && d->is_string()) input.description = d->get<std::string>();
                 std::optional<Json> payload;
                 if (auto p = properties->find("attributePayload"); p != properties->end()) {
                   payload = *p;
                 }
                 FG_ASSIGN_OR_RETURN(auto attributes, attributesOf(payload, nullptr));
                 input.attributes = attributes.value_or(registry::Attributes{});
               }
               FG_ASSIGN_OR_RETURN(auto group, registry.createThingGroup(r.account(), input));
               return Json{{"thingGroupName", group.name},
                           {"thingGroupArn", r.account().arn("thinggroup", group.name)},
                           {"thingGroupId", group.id}};
             });
  router.add("GET", "/thing-groups/{thingGroupName}", "DescribeThingGroup",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto g, registry.describeThingGroup(r.account(),
                                                                       r.path("thingGroupName")));
               Json properties{{"attributePayload", {{"attributes", g.attributes}}}};
               if (g.description) properties["thingGroupDescription"] = *g.description;
               Json metadata{{"creationDate", toEpochSeconds(g.creation_date)}};
               if (g.parent) {
                 metadata["parentGroupName"] = *g.parent;
                 Json chain = Json::array();
                 for (const auto& name : g.ancestors) {
                   chain.push_back({{"groupName", name},
                                    {"groupArn", r.account().arn("thinggroup", name)}});
                 }
                 metadata["rootToParentThingGroups"] = chain;
               }
               return Json{{"thingGroupName", g.name},
                           {"thingGroupId", g.id},
                           {"thingGroupArn", r.account().arn("thinggroup", g.name)},
                           {"version", g.version},
                           {"thingGroupProperties", properties},
                           {"thingGroupMetadata", metadata}};
             });
  router.add("GET", "/thing-groups", "ListThingGroups", [&](ApiRequest& r) -> Result<Json> {
    registry::ListThingGroupsFilter filter{r.query("parentGroup"), r.query("namePrefixFilter"),
                                           true};
    FG_ASSIGN_OR_RETURN(auto recursive, r.queryBool("recursive"));
    filter.recursive = recursive.value_or(true);
    FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 50));
    FG_ASSIGN_OR_RETURN(auto groups, registry.listThingGroups(r.account(), filter, page));
    Json items = Json::array();
    for (const auto& g : groups.items) {
      items.push_back({{"groupName", g.name}, {"groupArn", r.account().arn("thinggroup", g.name)}});
    }
    return withToken(Json{{"thingGroups", items}}, groups);
  });
  router.add("DELETE", "/thing-groups/{thingGroupName}", "DeleteThingGroup",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto expected, r.queryInt("expectedVersion", 0, INT64_MAX));
               FG_RETURN_IF_ERROR(
                   registry.deleteThingGroup(r.account(), r.path("thingGroupName"), expected));
               return Json();
             });
  // Add and remove take the same members and differ only in the registry call.
  using Membership = Status (Registry::*)(const registry::Account&, std::string_view,
                                          std::string_view);
  auto membership = [&registry](Membership change) {
    return [&registry, change](ApiRequest& r) -> Result<Json> {
      FG_ASSIGN_OR_RETURN(auto group,
                          nameOrArn(r, "thingGroupName", "thingGroupArn", "thinggroup"));
      FG_ASSIGN_OR_RETURN(auto thing, nameOrArn(r, "thingName", "thingArn", "thing"));
      FG_RETURN_IF_ERROR((registry.*change)(r.account(), group, thing));
      return Json();
    };
  };
  router.add("PUT", "/thing-groups/addThingToThingGroup", "AddThingToThingGroup",
             membership(&Registry::addThingToThingGroup));
  router.add("PUT", "/thing-groups/removeThingFromThingGroup", "RemoveThingFromThingGroup",
             membership(&Registry::removeThingFromThingGroup));
  router.add("GET", "/thing-groups/{thingGroupName}/things", "ListThingsInThingGroup",
             [&](ApiRequest& r) -> Result<Json> {
               FG_ASSIGN_OR_RETURN(auto recursive, r.queryBool("recursive"));
               FG_ASSIGN_OR_RETURN(auto page, r.page("nextToken", "maxResults", 50));
               FG_ASSIGN_OR_RETURN(auto things, registry.listThingsInThingGroup(
                                                    r.account(), r.path("thingGroupName"),
                                                    recursive.value_or(false), page));
               return withToken(Json{{"things", things.items}}, things);
             });
}

}  // namespace fleetgate::api
