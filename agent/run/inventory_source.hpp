// What inventory files say before hosts are resolved: groups with their members, children
// and variables, and each host's own variables, in the order the files named them. The YAML
// and INI readers fill one; several sources (-i repeated, a directory) fill the same one, as
// Ansible merges them.
#pragma once

#include "agent/run/problem.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rs::agent {

// Hosts one inventory may hold, after ranges are expanded: more is a problem, not memory.
inline constexpr std::size_t kMaxInventoryHosts = 100000;

// A variable's value with where it was defined, for error messages.
struct Var {
  YAML::Node value;
  std::string file;
  int line = 0;
  std::string key;  // where in the file, e.g. "all.vars.registry_port" or "[clients] host-b"
};

using Vars = std::map<std::string, Var>;

// Sets a variable. Never `vars[k] = v`: YAML::Node's operator= writes through to the node
// the old value shared, which would change the variable in every other host and group.
inline void set_var(Vars& vars, const std::string& name, const Var& var) {
  vars.erase(name);
  vars.emplace(name, var);
}

struct InventoryGroup {
  std::string name;
  std::vector<std::string> children;
  std::vector<std::string> hosts;  // direct members
  Vars vars;
  int depth = 0;  // longest distance from "all", set when the inventory is resolved
};

struct InventorySource {
  std::map<std::string, InventoryGroup> groups;
  std::map<std::string, Vars> host_vars;  // every host named, with the variables set on it
  std::vector<std::string> host_order;    // first mention first
  std::set<std::pair<std::string, std::string>> memberships;  // (group, host) of every groups[g].hosts entry

  // The group, created empty on first use.
  InventoryGroup& group(const std::string& name) {
    auto& g = groups[name];
    g.name = name;
    return g;
  }

  // Makes `host` a direct member of `group` (both created when new); returns its variables.
  Vars& add_host(const std::string& group_name, const std::string& host) {
    if (!host_vars.count(host)) host_order.push_back(host);
    // A set beside the list: a range of thousands of hosts must not search the list each time.
    if (memberships.emplace(group_name, host).second) group(group_name).hosts.push_back(host);
    return host_vars[host];
  }

  // Makes `child` a child group of `parent`; false for "all" or the group itself (the caller
  // reports it where the file said so). Cycles are found when the inventory is resolved.
  bool add_child(const std::string& parent, const std::string& child) {
    if (child == "all" || child == parent) return false;
    group(child);
    auto& kids = group(parent).children;
    if (std::find(kids.begin(), kids.end(), child) == kids.end()) kids.push_back(child);
    return true;
  }

  std::size_t host_count() const { return host_order.size(); }
};

}  // namespace rs::agent
