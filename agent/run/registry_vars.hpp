// The variables of the registry setup, derived in one place from a generic inventory:
// defaults (registry_port 5000, registry_root /var/lib/registry, insecure_registry_method
// dropin), their checks, and registry_addresses ("address:port" of every host in group
// "registry"), the list every docker host must trust.
#pragma once

#include "agent/run/inventory.hpp"
#include "agent/run/problem.hpp"

#include <string>
#include <vector>

namespace rs::agent {

inline constexpr const char* kRegistryGroup = "registry";

// "address:port" where the registry of a host in group "registry" answers.
std::string registry_address(const InventoryHost& host);
// Those of every host in group "registry", in inventory order.
std::vector<std::string> registry_addresses(const Inventory& inventory);

// Sets the defaults and registry_addresses on every host that does not set them, then
// checks the values; problems name the file, line and key that set a bad one. The
// Inventory::Derive of apply, verify and lab.
void derive_registry_vars(Inventory& inventory, Problems& problems);

}  // namespace rs::agent
