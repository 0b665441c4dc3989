// What a running dockerd says about its registries (GET /info), and whether it trusts one.
#pragma once

#include "core/result.hpp"

#include <string>
#include <vector>

namespace rs::agent {

// Where a host's dockerd answers the Engine API.
inline constexpr const char* kDockerSocket = "/var/run/docker.sock";

// The insecure registries of a docker daemon as GET /info reports them.
struct InsecureRegistries {
  std::vector<std::string> names;  // RegistryConfig.IndexConfigs entries with Secure false
  std::vector<std::string> cidrs;  // RegistryConfig.InsecureRegistryCIDRs
  std::string str() const;         // "a:5000, 127.0.0.0/8"
};
Result<InsecureRegistries> parse_docker_info(const std::string& json);
// Whether dockerd talks plain HTTP to `registry` ("host:port" or a CIDR as configured):
// listed by name, or its IPv4 address inside an insecure CIDR.
bool trusts(const InsecureRegistries& insecure, const std::string& registry);
// "host:port" (not a CIDR range): something one can push to.
bool is_registry_address(const std::string& registry);

}  // namespace rs::agent
