// Ansible's YAML inventory: all/children/hosts/vars, nested groups, host variables.
#pragma once

#include "agent/host/connection_settings.hpp"
#include "agent/run/problem.hpp"
#include "core/result.hpp"

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rs::agent {

// A variable's value with where it was defined, for error messages.
struct Var {
  YAML::Node value;
  std::string file;
  int line = 0;
  std::string key;  // dotted path in the file, e.g. "all.vars.registry_port"
};

using Vars = std::map<std::string, Var>;

// Sets a variable. Never `vars[k] = v`: YAML::Node's operator= writes through to the node
// the old value shared, which would change the variable in every other host and group.
inline void set_var(Vars& vars, const std::string& name, const Var& var) {
  vars.erase(name);
  vars.emplace(name, var);
}

// A host with its connection settings (read from the ansible_* variables).
struct InventoryHost : ConnectionSettings {
  std::set<std::string> groups;  // every group the host is in, "all" included
  Vars vars;                     // merged: all < parent group < child group < host

  std::string var_string(const std::string& name, const std::string& fallback = "") const;
};

struct InventoryGroup {
  std::string name;
  std::vector<std::string> children;
  std::vector<std::string> hosts;  // direct members
  Vars vars;
  int depth = 0;  // distance from "all"
};

class Inventory {
 public:
  // Parses and validates; on failure every problem found is listed.
  static Result<Inventory> load(const std::string& path, Problems& problems);
  static Result<Inventory> parse(const std::string& text, const std::string& file, Problems& problems);

  const std::vector<InventoryHost>& hosts() const { return hosts_; }
  const InventoryHost* host(const std::string& name) const;
  bool has_group(const std::string& name) const { return groups_.count(name) > 0; }
  // Hosts of a group, including those of its children, in inventory order.
  std::vector<std::string> group_hosts(const std::string& group) const;

  // Ansible-style pattern: "all", "*", a group, a host, globs with '*', unions with ':' or
  // ',', "!x" excludes and "&x" intersects. Returns names in inventory order.
  Result<std::vector<std::string>> match(const std::string& pattern) const;

  // "address:port" of every host in group "registry".
  std::vector<std::string> registry_addresses() const;

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, InventoryGroup> groups_;
  std::vector<InventoryHost> hosts_;
};

// Shell-like glob with '*' and '?'.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace rs::agent
