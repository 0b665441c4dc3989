// docker_insecure_registry: makes dockerd trust plain-HTTP registries, either with a
// drop-in that repeats the unit's real ExecStart plus --insecure-registry flags (method
// "dropin") or by merging into /etc/docker/daemon.json (method "daemon-json").
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/docker_info.hpp"
#include "agent/modules/params.hpp"

namespace rs::agent {

struct DockerRegistryConfig {
  std::vector<std::string> registries;
  // Registries docker must no longer trust insecurely (they serve TLS now): their flags and
  // daemon.json entries go. Flags set outside registry-setup's drop-in stay (and are said).
  std::vector<std::string> remove;
  std::string method = "dropin";
  std::string unit = "docker.service";
  std::string dropin;  // /etc/systemd/system/<unit>.d/90-registry-setup.conf
  std::string daemon_json = "/etc/docker/daemon.json";
  // Debian's unit appends $DOCKER_OPTS from this file: flags there count too.
  std::string env_file = "/etc/default/docker";
};

class DockerInsecureRegistryAction : public Action {
 public:
  explicit DockerInsecureRegistryAction(DockerRegistryConfig config) : config_(std::move(config)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;
  std::vector<Fact> facts(const FactScope& scope) const override;
  std::vector<std::string> trusted_registries() const override { return config_.registries; }
  const DockerRegistryConfig& config() const { return config_; }

 private:
  Result<Diff> check_dropin(HostContext& host);
  Result<Diff> check_daemon_json(HostContext& host);
  // Registries passed through $DOCKER_OPTS when argv uses it.
  Result<std::vector<std::string>> env_registries(HostContext& host, const std::vector<std::string>& argv);

  DockerRegistryConfig config_;
};

std::unique_ptr<Action> make_docker_insecure_registry_action(Params& params);

// dockerd's effective insecure registries, from the Engine API (GET /info on its socket).
Fact docker_insecure_fact(const DockerRegistryConfig& config, const std::string& task, const std::string& host);
// systemd has loaded the unit files on disk (NeedDaemonReload is false).
Fact daemon_reload_fact(const std::string& unit, const std::string& task, const std::string& host);

// Unit-file command lines: split honouring quotes and backslashes; render quoting only
// what needs it ("$DOCKER_OPTS" stays bare so systemd still splits it), '%' doubled.
std::vector<std::string> split_exec_line(const std::string& line);
std::string render_exec_line(const std::vector<std::string>& argv);
// The drop-in: "[Service]", "ExecStart=" (reset), then the full command line.
std::string render_dropin(const std::vector<std::string>& argv);
// The argv of a drop-in's last non-empty ExecStart=, if any.
std::optional<std::vector<std::string>> dropin_exec_start(const std::string& text);
// Registries named by --insecure-registry X / --insecure-registry=X in argv.
std::vector<std::string> flag_registries(const std::vector<std::string>& argv);
// The words of the last DOCKER_OPTS= assignment in an environment file (/etc/default/docker).
std::vector<std::string> docker_opts(const std::string& env_file_text);

}  // namespace rs::agent
