#include "agent/run/registry_vars.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>

namespace rs::agent {
namespace {

// Variables naming a file or directory of the control machine: relative to the file that
// set them (an inventory's secrets/ beside it).
const char* const kControlPathVars[] = {"registry_tls_dir", "registry_tls_certificate", "registry_tls_key",
                                        "registry_tls_ca", "registry_login_password_file"};

std::string absolute_from(const std::string& path, const Var& var) {
  if (path.empty() || path[0] == '/' || var.file.empty() || var.file[0] == '(') return path;
  return (std::filesystem::absolute(var.file).parent_path() / path).lexically_normal().string();
}

// $XDG_STATE_HOME/registry-setup/tls, else ~/.local/state/registry-setup/tls.
std::string default_tls_dir() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && state[0] == '/')
    return std::string(state) + "/registry-setup/tls";
  const char* home = std::getenv("HOME");
  return std::string(home && home[0] == '/' ? home : "/root") + "/.local/state/registry-setup/tls";
}

void check_registry_vars(const InventoryHost& host, Problems& problems) {
  auto bad = [&](const std::string& var, const std::string& message) { var_problem(host, var, message, problems); };
  auto scalar = [&](const std::string& var) { return scalar_var(host, var, problems); };
  if (auto s = scalar("registry_port"); s && !parse_port(*s)) bad("registry_port", "'" + *s + "' is not a port number (1-65535)");
  if (auto s = scalar("insecure_registry_method"); s && *s != "dropin" && *s != "daemon-json")
    bad("insecure_registry_method", "'" + *s + "' is not a method (dropin, daemon-json)");
  if (auto s = scalar("registry_root"); s && (s->empty() || (*s)[0] != '/'))
    bad("registry_root", "'" + *s + "' is not an absolute path");
  auto tls = scalar("registry_tls");
  if (tls && *tls != "none" && *tls != "self-signed" && *tls != "files")
    bad("registry_tls", "'" + *tls + "' is not one of none, self-signed, files");
  if (tls && *tls == "files")
    for (const char* var : {"registry_tls_certificate", "registry_tls_key"})
      if (host.var_string(var).empty()) bad("registry_tls", std::string("files needs ") + var + " (a file on the control machine)");
  if (auto s = scalar("registry_auth"); s && *s != "basic" && *s != "token")
    bad("registry_auth", "'" + *s + "' is not one of basic, token");
  for (const char* var : {"registry_users", "registry_anonymous"}) {
    auto it = host.vars.find(var);
    if (it != host.vars.end() && it->second.value && !it->second.value.IsNull() && !it->second.value.IsSequence())
      bad(var, "must be a list");
  }
  if (!host.var_string("registry_login_user").empty() && host.var_string("registry_login_password_file").empty())
    bad("registry_login_user", "needs registry_login_password_file (a file on the control machine)");
}

bool has_users(const InventoryHost& h) {
  auto it = h.vars.find("registry_users");
  return it != h.vars.end() && it->second.value && it->second.value.IsSequence() && it->second.value.size() > 0;
}

// Relative paths of the control machine made absolute, in the host's own variables.
void resolve_control_paths(Inventory& inventory) {
  for (const auto& host : inventory.hosts()) {
    for (const char* name : kControlPathVars) {
      auto it = host.vars.find(name);
      if (it == host.vars.end() || !it->second.value || !it->second.value.IsScalar()) continue;
      const auto path = it->second.value.as<std::string>();
      const auto resolved = absolute_from(path, it->second);
      if (resolved == path) continue;
      Var v = it->second;
      v.value = YAML::Node(resolved);
      inventory.set_host_var(host.name, name, v);
    }
    auto users = host.vars.find("registry_users");
    if (users == host.vars.end() || !users->second.value || !users->second.value.IsSequence()) continue;
    // A copy: the node is shared with every host that inherits it.
    Var v = users->second;
    v.value = YAML::Clone(users->second.value);
    for (auto u : v.value)
      if (u.IsMap() && u["password_file"] && u["password_file"].IsScalar())
        u["password_file"] = absolute_from(u["password_file"].as<std::string>(), users->second);
    inventory.set_host_var(host.name, "registry_users", v);
  }
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

RegistryEndpoint registry_endpoint(const InventoryHost& host) {
  RegistryEndpoint e;
  e.address = registry_address(host);
  e.tls = host.var_string("registry_tls", "none") != "none";
  e.auth = has_users(host);
  return e;
}

std::optional<RegistryEndpoint> find_registry(const Inventory& inventory, const std::string& address) {
  for (const auto& h : inventory.hosts())
    if (h.groups.count(kRegistryGroup) && registry_address(h) == address) return registry_endpoint(h);
  return std::nullopt;
}

void derive_registry_vars(Inventory& inventory, Problems& problems) {
  const std::map<std::string, std::string> defaults = {
      {"registry_port", "5000"},
      {"registry_root", "/var/lib/registry"},
      {"insecure_registry_method", "dropin"},
      {"registry_tls", "none"},
      {"registry_tls_dir", default_tls_dir()},
      {"registry_tls_certificate", ""},
      {"registry_tls_key", ""},
      {"registry_tls_ca", ""},
      {"registry_auth", "basic"},
      {"registry_login_user", ""},
      {"registry_login_password_file", ""},
  };
  for (const auto& [name, value] : defaults) inventory.set_default(name, Var{YAML::Node(value), "(default)", 0, name});
  for (const char* list : {"registry_users", "registry_anonymous"})
    inventory.set_default(list, Var{YAML::Node(YAML::NodeType::Sequence), "(default)", 0, list});
  resolve_control_paths(inventory);
  for (const auto& host : inventory.hosts()) check_registry_vars(host, problems);

  // What every docker host needs to know of the registries: which are still plain HTTP
  // (insecure), which serve TLS (their CA), which want a login.
  YAML::Node insecure(YAML::NodeType::Sequence), tls(YAML::NodeType::Sequence), trust(YAML::NodeType::Sequence),
      auth(YAML::NodeType::Sequence);
  for (const auto& h : inventory.hosts()) {
    if (!h.groups.count(kRegistryGroup)) continue;
    const auto e = registry_endpoint(h);
    if (e.auth) auth.push_back(e.address);
    if (!e.tls) {
      insecure.push_back(e.address);
      continue;
    }
    tls.push_back(e.address);
    YAML::Node t(YAML::NodeType::Map);
    t["address"] = e.address;
    if (h.var_string("registry_tls") == "self-signed") t["ca_dir"] = h.var_string("registry_tls_dir");
    else t["ca"] = h.var_string("registry_tls_ca").empty() ? h.var_string("registry_tls_certificate") : h.var_string("registry_tls_ca");
    trust.push_back(t);
  }
  const std::string from = "(from group 'registry')";
  inventory.set_default("registry_insecure_addresses", Var{insecure, from, 0, "registry_insecure_addresses"});
  inventory.set_default("registry_tls_addresses", Var{tls, from, 0, "registry_tls_addresses"});
  inventory.set_default("registry_tls_trust", Var{trust, from, 0, "registry_tls_trust"});
  inventory.set_default("registry_auth_addresses", Var{auth, from, 0, "registry_auth_addresses"});
  if (!inventory.has_group(kRegistryGroup)) return;
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& a : registry_addresses(inventory)) list.push_back(a);
  inventory.set_default("registry_addresses", Var{list, from, 0, "registry_addresses"});
}

}  // namespace rs::agent
