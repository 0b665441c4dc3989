// Ansible's YAML inventory: all/children/hosts/vars, nested groups, host variables.
#pragma once

#include "agent/host/connection_settings.hpp"
#include "agent/run/problem.hpp"
#include "core/result.hpp"

#include <yaml-cpp/yaml.h>

#include <functional>
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
  // Variables a tool derives from the parsed inventory (defaults, lists), checking them;
  // run before the result is judged, so its problems are listed with the parser's.
  using Derive = std::function<void(Inventory&, Problems&)>;

  // Parses and validates; on failure every problem found is listed.
  static Result<Inventory> load(const std::string& path, Problems& problems, const Derive& derive = {});
  static Result<Inventory> parse(const std::string& text, const std::string& file, Problems& problems,
                                 const Derive& derive = {});

  const std::vector<InventoryHost>& hosts() const { return hosts_; }
  const InventoryHost* host(const std::string& name) const;
  bool has_group(const std::string& name) const { return groups_.count(name) > 0; }
  // Hosts of a group, including those of its children, in inventory order.
  std::vector<std::string> group_hosts(const std::string& group) const;

  // Ansible-style pattern: "all", "*", a group, a host, globs with '*', unions with ':' or
  // ',', "!x" excludes and "&x" intersects. Returns names in inventory order.
  Result<std::vector<std::string>> match(const std::string& pattern) const;

  // Gives `name` = var to every host where no level of the inventory set it (the lowest
  // precedence of all: defaults).
  void set_default(const std::string& name, const Var& var);
  // Replaces one host's variable (a derived value: a path made absolute, say).
  void set_host_var(const std::string& host, const std::string& name, const Var& var);

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, InventoryGroup> groups_;
  std::vector<InventoryHost> hosts_;
};

// A variable's value as one string; a list or mapping is a problem named by where it was set.
std::optional<std::string> scalar_var(const InventoryHost& host, const std::string& var, Problems& problems);
// A problem with a host's variable, named by the file, line and key that set it.
void var_problem(const InventoryHost& host, const std::string& var, const std::string& message, Problems& problems);
// 1-65535, else nullopt.
std::optional<int> parse_port(const std::string& text);
// Drops repeats among problems[from..]: an inherited variable is reported once, not per host.
void unique_problems(Problems& problems, std::size_t from);

// Shell-like glob with '*' and '?'.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace rs::agent
