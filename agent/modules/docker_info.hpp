// What a running dockerd says about its registries (GET /info), and whether it trusts one.
#pragma once

#include "agent/host/host_context.hpp"
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

// GET /info from the host's dockerd (curl on its socket, else the docker CLI): the JSON.
// Errc::unavailable when the daemon does not answer.
Result<std::string> get_docker_info(HostContext& host);
// The registries the running dockerd trusts: get_docker_info, parsed.
Result<InsecureRegistries> running_insecure_registries(HostContext& host);

// What a restart of dockerd would do to its containers (GET /info).
struct DockerContainers {
  long running = 0;          // ContainersRunning
  bool live_restore = false;  // LiveRestoreEnabled: they survive a daemon restart
};
Result<DockerContainers> parse_docker_containers(const std::string& json);
// "stops 3 running containers" / "live-restore: its 3 running containers keep running".
std::string restart_effect(const DockerContainers& c);
// Whether dockerd talks plain HTTP to `registry` ("host:port" or a CIDR as configured):
// listed by name, or its IPv4 address inside an insecure CIDR.
bool trusts(const InsecureRegistries& insecure, const std::string& registry);
// "host:port" (not a CIDR range): something one can push to.
bool is_registry_address(const std::string& registry);

}  // namespace rs::agent
