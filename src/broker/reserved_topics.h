#pragma once

// The `$` namespace is AWS's (spec §9.5): clients may use only the reserved topics AWS defines
// for devices. Topics outside it are left to the IoT policy.

#include <string_view>

namespace fleetgate::broker {

// PUBLISH to a valid topic name.
bool clientMayPublish(std::string_view topic);
// SUBSCRIBE to a valid topic filter.
bool clientMaySubscribe(std::string_view filter);
// Basic Ingest (`$aws/rules/<rule>/...`): goes to the rules engine, never to subscribers.
bool isBasicIngest(std::string_view topic);

}  // namespace fleetgate::broker
