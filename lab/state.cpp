#include "lab/state.hpp"

#include "lab/system.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>

namespace rs::lab {

NodeState* LabState::node(const std::string& host) {
  for (auto& n : nodes)
    if (n.host == host) return &n;
  return nullptr;
}

const NodeState* LabState::node(const std::string& host) const {
  for (const auto& n : nodes)
    if (n.host == host) return &n;
  return nullptr;
}

std::string state_to_json(const LabState& s) {
  nlohmann::json j;
  j["name"] = s.name;
  j["phase"] = s.phase;
  j["inventory"] = s.inventory;
  j["rootfs"] = s.rootfs;
  j["switch_netns"] = s.switch_netns;
  j["controller_netns"] = s.controller_netns;
  j["controller_address"] = s.controller_address;
  j["created_at"] = s.created_at;
  j["netns"] = s.netns;
  j["nodes"] = nlohmann::json::array();
  for (const auto& n : s.nodes) {
    j["nodes"].push_back({{"host", n.host},
                          {"address", n.address},
                          {"netns", n.netns},
                          {"nspawn_pid", n.nspawn_pid},
                          {"nspawn_start", n.nspawn_start},
                          {"leader_pid", n.leader_pid},
                          {"leader_start", n.leader_start},
                          {"mounted", n.mounted}});
  }
  return j.dump(2) + "\n";
}

Result<LabState> state_from_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    LabState s;
    s.name = j.at("name").get<std::string>();
    s.phase = j.at("phase").get<std::string>();
    s.inventory = j.value("inventory", "");
    s.rootfs = j.value("rootfs", "");
    s.switch_netns = j.at("switch_netns").get<std::string>();
    s.controller_netns = j.at("controller_netns").get<std::string>();
    s.controller_address = j.value("controller_address", "");
    s.created_at = j.value("created_at", 0LL);
    s.netns = j.at("netns").get<std::vector<std::string>>();
    for (const auto& n : j.at("nodes")) {
      NodeState node;
      node.host = n.at("host").get<std::string>();
      node.address = n.at("address").get<std::string>();
      node.netns = n.at("netns").get<std::string>();
      node.nspawn_pid = n.value("nspawn_pid", 0);
      node.nspawn_start = n.value("nspawn_start", 0ULL);
      node.leader_pid = n.value("leader_pid", 0);
      node.leader_start = n.value("leader_start", 0ULL);
      node.mounted = n.value("mounted", false);
      s.nodes.push_back(std::move(node));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return make_error(Errc::invalid_argument, std::string("lab state is not valid: ") + e.what());
  }
}

std::string LabPaths::base() {
  const char* env = std::getenv("RS_LAB_RUN_DIR");
  return env && *env ? env : "/run/registry-setup/lab";
}

LabPaths LabPaths::of(const std::string& lab_name) { return LabPaths{base() + "/" + lab_name}; }

std::string LabPaths::rootfs_cache() {
  const char* env = std::getenv("RS_LAB_CACHE");
  return env && *env ? env : "/var/cache/registry-setup/rootfs-bookworm";
}

Result<void> write_state(const LabPaths& paths, const LabState& state) {
  return write_file_atomic(paths.state(), state_to_json(state), 0644);
}

Result<LabState> read_state(const LabPaths& paths) {
  auto text = read_file(paths.state(), 1 << 20);
  if (!text) return text.error();
  auto state = state_from_json(*text);
  if (!state) return state.error().with_context("read '" + paths.state() + "'");
  return state;
}

}  // namespace rs::lab
