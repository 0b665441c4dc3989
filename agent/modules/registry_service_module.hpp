// registry_service: the built-in registry as a systemd service (`registry-setup serve`,
// Type=notify, Restart=always), the binary copied to the host when it differs, enabled,
// started, then GET /v2/ must answer.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/params.hpp"

namespace rs::agent {

struct RegistryServiceConfig {
  int port = 5000;
  std::string root = "/var/lib/registry";
  std::string listen = "0.0.0.0";
  std::string unit = "registry-setup-registry.service";
  std::string binary = "/usr/local/bin/registry-setup";
  bool probe = true;
};

class RegistryServiceAction : public Action {
 public:
  explicit RegistryServiceAction(RegistryServiceConfig config) : config_(std::move(config)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;
  std::vector<Fact> facts(const FactScope& scope) const override;

  const RegistryServiceConfig& config() const { return config_; }
  std::string unit_file() const;
  std::string unit_path() const { return "/etc/systemd/system/" + config_.unit; }

 private:
  RegistryServiceConfig config_;
};

std::unique_ptr<Action> make_registry_service_action(Params& params);

// The registry unit active and enabled.
Fact registry_unit_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host);
// GET /v2/ on the registry host's own address answers with the registry header.
Fact registry_answers_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                           const std::string& host);
// The storage directory exists and is writable.
Fact registry_storage_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host);

}  // namespace rs::agent
