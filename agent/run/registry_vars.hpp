// The variables of the registry setup, derived in one place from a generic inventory:
// defaults (registry_port 5000, registry_root /var/lib/registry, insecure_registry_method
// dropin, registry_tls none, ...), their checks, control-machine paths made absolute (relative
// to the file that set them), and the lists every docker host needs: registry_addresses
// ("address:port" of every host in group "registry"), registry_insecure_addresses (those
// without TLS), registry_tls_addresses, registry_tls_trust ({address, ca or ca_dir}),
// registry_auth_addresses (those with users).
#pragma once

#include "agent/run/inventory.hpp"
#include "agent/run/problem.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

inline constexpr const char* kRegistryGroup = "registry";

// "address:port" where the registry of a host in group "registry" answers.
std::string registry_address(const InventoryHost& host);
// Those of every host in group "registry", in inventory order.
std::vector<std::string> registry_addresses(const Inventory& inventory);

// How clients reach one registry host.
struct RegistryEndpoint {
  std::string address;  // "host:port"
  bool tls = false;
  bool auth = false;  // it has users: a push needs credentials
};
RegistryEndpoint registry_endpoint(const InventoryHost& host);
// The registry host of the inventory serving `address`, if one does.
std::optional<RegistryEndpoint> find_registry(const Inventory& inventory, const std::string& address);

// Sets the defaults and registry_addresses on every host that does not set them, then
// checks the values; problems name the file, line and key that set a bad one. The
// Inventory::Derive of apply, verify and lab.
void derive_registry_vars(Inventory& inventory, Problems& problems);

}  // namespace rs::agent
