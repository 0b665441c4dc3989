#include "agent/modules/module_table.hpp"

#include "agent/modules/docker_insecure_registry_module.hpp"
#include "agent/modules/docker_login_module.hpp"
#include "agent/modules/docker_registry_ca_module.hpp"
#include "agent/modules/registry_service_module.hpp"
#include "agent/modules/runtime_registries_module.hpp"
#include "agent/modules/sysctl_module.hpp"
#include "agent/modules/systemd_module.hpp"

namespace rs::agent {

const std::vector<ModuleInfo>& modules() {
  static const std::vector<ModuleInfo> all = {
      {"sysctl", make_sysctl_action},
      {"docker_insecure_registry", make_docker_insecure_registry_action},
      {"systemd", make_systemd_action},
      {"registry_service", make_registry_service_action},
      {"docker_registry_ca", make_docker_registry_ca_action},
      {"docker_login", make_docker_login_action},
      {"containerd_registry", make_containerd_registry_action},
      {"containers_registries", make_containers_registries_action},
  };
  return all;
}

const ModuleInfo* find_module(const std::string& name) {
  for (const auto& m : modules())
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace rs::agent
