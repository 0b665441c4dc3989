#include "agent/modules/docker_info.hpp"

#include "agent/modules/host_probes.hpp"

#include <arpa/inet.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>

namespace rs::agent {
namespace {

std::optional<std::uint32_t> ipv4(const std::string& text) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

bool in_cidr(std::uint32_t ip, const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  auto net = ipv4(cidr.substr(0, slash));
  int bits = -1;
  try {
    bits = std::stoi(cidr.substr(slash + 1));
  } catch (...) {
    return false;
  }
  if (!net || bits < 0 || bits > 32) return false;
  std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (ip & mask) == (*net & mask);
}

}  // namespace

std::string InsecureRegistries::str() const {
  auto all = names;
  all.insert(all.end(), cidrs.begin(), cidrs.end());
  return all.empty() ? "none" : join_list(all);
}

Result<InsecureRegistries> parse_docker_info(const std::string& json) {
  try {
    auto j = nlohmann::json::parse(json);
    if (!j.is_object() || !j.contains("RegistryConfig") || !j["RegistryConfig"].is_object())
      return make_error(Errc::invalid_argument, "docker info has no RegistryConfig");
    const auto& rc = j["RegistryConfig"];
    InsecureRegistries out;
    if (rc.contains("IndexConfigs") && rc["IndexConfigs"].is_object())
      for (const auto& [name, index] : rc["IndexConfigs"].items())
        if (index.is_object() && index.value("Secure", true) == false) out.names.push_back(name);
    if (rc.contains("InsecureRegistryCIDRs") && rc["InsecureRegistryCIDRs"].is_array())
      for (const auto& c : rc["InsecureRegistryCIDRs"])
        if (c.is_string()) out.cidrs.push_back(c.get<std::string>());
    return out;
  } catch (const nlohmann::json::exception& e) {
    return make_error(Errc::invalid_argument, std::string("docker info is not JSON: ") + e.what());
  }
}

Result<std::string> get_docker_info(HostContext& h) {
  using namespace std::chrono_literals;
  auto r = run_tool(h, {"curl", "-sS", "--max-time", "10", "--unix-socket", kDockerSocket, "http://localhost/info"}, 30s);
  // Without curl on the host: the docker CLI asks the same endpoint.
  if (!r && r.error().code == Errc::not_found) r = run_tool(h, {"docker", "info", "--format", "{{json .}}"}, 30s);
  if (!r) return r.error();
  if (r->exit_code != 0)
    return make_error(Errc::unavailable, "GET /info on " + std::string(kDockerSocket) + ": " + last_line(r->err));
  return std::move(r->out);
}

Result<InsecureRegistries> running_insecure_registries(HostContext& h) {
  auto info = get_docker_info(h);
  if (!info) return info.error();
  return parse_docker_info(*info);
}

Result<DockerContainers> parse_docker_containers(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return make_error(Errc::invalid_argument, "docker info is not a JSON object");
  DockerContainers c;
  if (auto it = j.find("ContainersRunning"); it != j.end() && it->is_number_integer()) c.running = it->get<long>();
  if (auto it = j.find("LiveRestoreEnabled"); it != j.end() && it->is_boolean()) c.live_restore = it->get<bool>();
  return c;
}

std::string restart_effect(const DockerContainers& c) {
  const std::string n = std::to_string(c.running) + " running container" + (c.running == 1 ? "" : "s");
  if (c.running == 0) return "no running containers";
  if (c.live_restore) return "live-restore: its " + n + " keep running";
  return "stops " + n;
}

bool is_registry_address(const std::string& registry) {
  return registry.find('/') == std::string::npos && registry.find(':') != std::string::npos;
}

bool trusts(const InsecureRegistries& insecure, const std::string& registry) {
  auto listed = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (listed(insecure.names, registry) || listed(insecure.cidrs, registry)) return true;
  if (!is_registry_address(registry)) return false;
  auto ip = ipv4(registry.substr(0, registry.rfind(':')));
  if (!ip) return false;
  return std::any_of(insecure.cidrs.begin(), insecure.cidrs.end(), [&](const auto& c) { return in_cidr(*ip, c); });
}

}  // namespace rs::agent
