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
