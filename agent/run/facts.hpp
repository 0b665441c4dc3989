// The facts verify observes beyond the module checks, and the pure helpers they use.
#pragma once

#include "agent/modules/docker_insecure_registry_module.hpp"
#include "agent/run/fact.hpp"
#include "agent/modules/registry_service_module.hpp"
#include "agent/modules/sysctl_module.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

// Where a host's dockerd answers the Engine API.
inline constexpr const char* kDockerSocket = "/var/run/docker.sock";
// The repository the end-to-end probe pushes to (and deletes from) every registry.
inline constexpr const char* kProbeRepository = "registry-setup-verify/probe";

// The kernel's value now (/proc/sys).
Fact sysctl_live_fact(const SysctlAction& action, const std::string& task, const std::string& host);
// The value set by the file applied last at boot, and which file that is.
Fact sysctl_boot_fact(const SysctlAction& action, const std::string& task, const std::string& host);
// dockerd's effective insecure registries, from the Engine API (GET /info on its socket).
Fact docker_insecure_fact(const DockerRegistryConfig& config, const std::string& task, const std::string& host);
// systemd has loaded the unit files on disk (NeedDaemonReload is false).
Fact daemon_reload_fact(const std::string& unit, const std::string& task, const std::string& host);
// The registry unit active and enabled.
Fact registry_unit_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host);
// GET /v2/ on the registry host's own address answers with the registry header.
Fact registry_answers_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                           const std::string& host);
// The storage directory exists and is writable.
Fact registry_storage_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host);
// From this host, GET http://REGISTRY/v2/ over plain HTTP.
Fact registry_reach_fact(const std::string& registry, std::vector<Repairer> repaired_by);
// From this host: a tiny generated image pushed to REGISTRY, pulled back, digests compared,
// deleted from the registry (manifest by digest) and locally.
Fact push_pull_fact(const std::string& registry, const std::string& host, std::vector<Repairer> repaired_by);

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

// A ustar archive holding one regular file.
std::string single_file_tar(const std::string& name, const std::string& content);
// "sha256:..." from `docker push` ("TAG: digest: sha256:... size: N") or `docker pull`
// ("Digest: sha256:...") output.
std::optional<std::string> output_digest(const std::string& output);
// The last non-empty line of a tool's output: docker's own error message.
std::string last_line(const std::string& text);

}  // namespace rs::agent
