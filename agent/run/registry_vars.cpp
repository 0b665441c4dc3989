#include "agent/run/registry_vars.hpp"

#include <map>

namespace rs::agent {
namespace {

void check_registry_vars(const InventoryHost& host, Problems& problems) {
  auto bad = [&](const std::string& var, const std::string& message) { var_problem(host, var, message, problems); };
  auto scalar = [&](const std::string& var) { return scalar_var(host, var, problems); };
  if (auto s = scalar("registry_port"); s && !parse_port(*s)) bad("registry_port", "'" + *s + "' is not a port number (1-65535)");
  if (auto s = scalar("insecure_registry_method"); s && *s != "dropin" && *s != "daemon-json")
    bad("insecure_registry_method", "'" + *s + "' is not a method (dropin, daemon-json)");
  if (auto s = scalar("registry_root"); s && (s->empty() || (*s)[0] != '/'))
    bad("registry_root", "'" + *s + "' is not an absolute path");
}

}  // namespace

std::string registry_address(const InventoryHost& host) {
  return host.address + ":" + host.var_string("registry_port", "5000");
}

std::vector<std::string> registry_addresses(const Inventory& inventory) {
  std::vector<std::string> out;
  for (const auto& h : inventory.hosts())
    if (h.groups.count(kRegistryGroup)) out.push_back(registry_address(h));
  return out;
}

void derive_registry_vars(Inventory& inventory, Problems& problems) {
  static const std::map<std::string, std::string> defaults = {
      {"registry_port", "5000"},
      {"registry_root", "/var/lib/registry"},
      {"insecure_registry_method", "dropin"},
  };
  for (const auto& [name, value] : defaults) inventory.set_default(name, Var{YAML::Node(value), "(default)", 0, name});
  for (const auto& host : inventory.hosts()) check_registry_vars(host, problems);
  if (!inventory.has_group(kRegistryGroup)) return;
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& a : registry_addresses(inventory)) list.push_back(a);
  inventory.set_default("registry_addresses", Var{list, "(from group 'registry')", 0, "registry_addresses"});
}

}  // namespace rs::agent
