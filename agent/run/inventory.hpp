// Inventories as Ansible reads them: YAML (all/children/hosts/vars) and INI files, host
// ranges, several sources and directories of them, group_vars/ and host_vars/ beside each,
// and extra variables (-e). Variables merge in Ansible's order, lowest first:
//   inventory file group vars (parents before children, then by name)
//   < group_vars/all < group_vars/<group> (same order)
//   < inventory file host vars < host_vars/<host> < extra vars.
#pragma once

#include "agent/host/connection_settings.hpp"
#include "agent/run/inventory_source.hpp"
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

// A host with its connection settings (read from the ansible_* variables).
struct InventoryHost : ConnectionSettings {
  std::set<std::string> groups;  // every group the host is in, "all" included
  Vars vars;                     // merged: all < parent group < child group < host

  std::string var_string(const std::string& name, const std::string& fallback = "") const;
};

class Inventory {
 public:
  // Variables a tool derives from the parsed inventory (defaults, lists), checking them;
  // run before the result is judged, so its problems are listed with the parser's.
  using Derive = std::function<void(Inventory&, Problems&)>;

  // Reads every source (a file, YAML or INI, or a directory of them) with the group_vars/
  // and host_vars/ beside it, then `extra_vars` (each "k=v k2=v2", "@FILE" or a YAML/JSON
  // mapping); validates; on failure every problem found is listed.
  static Result<Inventory> load(const std::vector<std::string>& sources, const std::vector<std::string>& extra_vars,
                                Problems& problems, const Derive& derive = {});
  static Result<Inventory> load(const std::string& path, Problems& problems, const Derive& derive = {});
  // YAML text alone (no files beside it).
  static Result<Inventory> parse(const std::string& text, const std::string& file, Problems& problems,
                                 const Derive& derive = {});

  const std::vector<InventoryHost>& hosts() const { return hosts_; }
  const InventoryHost* host(const std::string& name) const;
  bool has_group(const std::string& name) const { return groups_.count(name) > 0; }
  // Hosts of a group, including those of its children, in inventory order.
  std::vector<std::string> group_hosts(const std::string& group) const;

  // Ansible's host pattern (agent/run/host_pattern.hpp): "all", "*", groups, hosts, globs,
  // "~regex", subscripts "g[0]" "g[0:2]", unions with ':' or ',', "!x" excludes, "&x"
  // intersects. Returns names in the order the terms found them.
  Result<std::vector<std::string>> match(const std::string& pattern) const;

  // Gives `name` = var to every host where no level of the inventory set it (the lowest
  // precedence of all: defaults).
  void set_default(const std::string& name, const Var& var);
  // Replaces one host's variable (a derived value: a path made absolute, say).
  void set_host_var(const std::string& host, const std::string& name, const Var& var);

  // The first source, as named.
  const std::string& file() const { return file_; }
  // Every group, "all" and "ungrouped" included.
  const std::map<std::string, InventoryGroup>& groups() const { return groups_; }

 private:
  struct Layers;
  static Result<Inventory> resolve(InventorySource source, const Layers& layers, const std::string& file,
                                   Problems& problems, const Derive& derive, std::size_t before);

  std::string file_;
  std::map<std::string, InventoryGroup> groups_;
  std::vector<InventoryHost> hosts_;
  std::map<std::string, std::size_t> index_;  // name -> position in hosts_
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
