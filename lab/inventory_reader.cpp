#include "lab/inventory_reader.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace rs::lab {
namespace {

constexpr std::size_t kMaxInventoryBytes = 4 << 20;
constexpr int kMaxDepth = 32;

struct Reader {
  std::string file;
  std::vector<LabHost> hosts;
  std::map<std::string, std::size_t> index;             // host -> position in hosts
  std::map<std::string, std::string> explicit_address;  // set on the host itself
  std::vector<std::string> problems;

  std::string where(const YAML::Node& node) const {
    return file + ":" + std::to_string(node.Mark().line + 1);
  }

  void problem(const YAML::Node& node, const std::string& text) { problems.push_back(where(node) + ": " + text); }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) {
      problem(node, "'" + key + "' must be a single value");
      return std::nullopt;
    }
    return node.Scalar();
  }

  void add_host(const std::string& name, const YAML::Node& where_node, const std::optional<std::string>& address,
                const std::optional<std::string>& inherited) {
    auto [it, inserted] = index.emplace(name, hosts.size());
    if (inserted) hosts.push_back(LabHost{name, {}});
    LabHost& host = hosts[it->second];
    if (address) {
      auto prev = explicit_address.find(name);
      if (prev != explicit_address.end() && prev->second != *address)
        problem(where_node, "host '" + name + "' has two ansible_host values ('" + prev->second + "' and '" +
                                *address + "')");
      explicit_address[name] = *address;
      host.address = *address;
    } else if (host.address.empty() && inherited) {
      host.address = *inherited;
    }
  }

  void group(const YAML::Node& node, const std::string& name, std::optional<std::string> inherited, int depth) {
    if (depth > kMaxDepth) {
      problem(node, "groups nest deeper than " + std::to_string(kMaxDepth) + " levels under '" + name + "'");
      return;
    }
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) {
      problem(node, "group '" + name + "' must be a mapping (hosts, children, vars)");
      return;
    }
    for (const auto& entry : node) {
      std::string key = entry.first.as<std::string>();
      if (key != "hosts" && key != "children" && key != "vars")
        problem(entry.first, "unknown key '" + key + "' in group '" + name + "' (expected hosts, children, vars)");
    }
    if (auto vars = node["vars"]; vars && !vars.IsNull()) {
      if (!vars.IsMap())
        problem(vars, "'vars' of group '" + name + "' must be a mapping");
      else if (auto a = vars["ansible_host"])
        if (auto v = scalar(a, "ansible_host")) inherited = *v;
    }
    if (auto hosts_node = node["hosts"]; hosts_node && !hosts_node.IsNull()) {
      if (!hosts_node.IsMap()) {
        problem(hosts_node, "'hosts' of group '" + name + "' must be a mapping of host names");
      } else {
        for (const auto& h : hosts_node) {
          std::string host = h.first.as<std::string>();
          std::optional<std::string> address;
          if (h.second && !h.second.IsNull()) {
            if (!h.second.IsMap())
              problem(h.second, "host '" + host + "' must map to its variables");
            else if (auto a = h.second["ansible_host"])
              address = scalar(a, "ansible_host");
          }
          add_host(host, h.first, address, inherited);
        }
      }
    }
    if (auto children = node["children"]; children && !children.IsNull()) {
      if (!children.IsMap()) {
        problem(children, "'children' of group '" + name + "' must be a mapping of groups");
      } else {
        for (const auto& c : children) group(c.second, c.first.as<std::string>(), inherited, depth + 1);
      }
    }
  }
};

}  // namespace

Result<std::vector<LabHost>> read_lab_inventory_text(const std::string& text, const std::string& file_name) {
  Reader r;
  r.file = file_name;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument,
                      file_name + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap())
    return make_error(Errc::invalid_argument, file_name + ": an inventory is a mapping with a top-level 'all' group");
  try {
    for (const auto& top : root) r.group(top.second, top.first.as<std::string>(), std::nullopt, 0);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument, file_name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (r.hosts.empty() && r.problems.empty()) r.problems.push_back(file_name + ": no hosts in the inventory");
  if (!r.problems.empty()) {
    std::string message;
    for (const auto& p : r.problems) message += (message.empty() ? "" : "\n") + p;
    return make_error(Errc::invalid_argument, message);
  }
  // A host named by its address (no ansible_host) uses the name as the address, as Ansible does.
  for (auto& host : r.hosts)
    if (host.address.empty()) host.address = host.name;
  return r.hosts;
}

Result<std::vector<LabHost>> read_lab_inventory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::invalid_argument, "cannot read inventory '" + path + "'");
  std::string text;
  text.resize(kMaxInventoryBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxInventoryBytes)
    return make_error(Errc::invalid_argument, "inventory '" + path + "' is larger than 4 MiB");
  return read_lab_inventory_text(text, path);
}

}  // namespace rs::lab
