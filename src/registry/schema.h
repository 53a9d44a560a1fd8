#pragma once

#include <span>

#include "store/database.h"

namespace fleetgate::registry {

// The registry's forward-only migrations, oldest first. Append; never edit a shipped one.
std::span<const store::Migration> migrations();

}  // namespace fleetgate::registry
