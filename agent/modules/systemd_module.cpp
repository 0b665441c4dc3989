#include "agent/modules/systemd_module.hpp"

#include "agent/modules/docker_info.hpp"
#include "agent/modules/unit_jobs.hpp"

namespace rs::agent {

std::string SystemdAction::summary() const {
  std::string s = config_.unit;
  if (!config_.state.empty()) s += " " + config_.state;
  if (config_.enabled) s += *config_.enabled ? " enabled" : "";
  return s;
}

Result<Diff> SystemdAction::check(HostContext& host) {
  Diff diff;
  auto state = host.systemd().unit_state(config_.unit);
  if (!state) return state.error();
  if (config_.daemon_reload == "yes")
    diff.changes.push_back({ChangeKind::daemon_reload, "daemon-reload", true});
  else if (config_.daemon_reload == "auto" && (host.unit_files_changed() || state->need_daemon_reload))
    diff.changes.push_back({ChangeKind::daemon_reload, "daemon-reload"});
  if (config_.enabled && *config_.enabled && state->unit_file_state != "enabled")
    diff.changes.push_back({ChangeKind::enable, "enable '" + config_.unit + "' (now " + state->unit_file_state + ")"});
  if (config_.state == "restarted") {
    std::string text = "restart '" + config_.unit + "'";
    // What a docker restart costs: its running containers stop, unless live-restore is on.
    if (config_.unit == "docker.service" && state->active_state == "active") {
      auto info = get_docker_info(host);
      auto containers = info ? parse_docker_containers(*info) : Result<DockerContainers>(info.error());
      if (containers) text += " (" + restart_effect(*containers) + ")";
      else diff.warnings.push_back("could not ask dockerd about its running containers: " + containers.error().message);
    }
    diff.changes.push_back({ChangeKind::restart, text, true});
  }
  if (config_.state == "started" && state->active_state != "active")
    diff.changes.push_back({ChangeKind::start, "start '" + config_.unit + "' (now " + state->active_state + ")"});
  return diff;
}

Result<void> SystemdAction::apply(HostContext& host, const Diff& diff) { return run_unit_jobs(host, config_.unit, diff); }

std::unique_ptr<Action> make_systemd_action(Params& params) {
  SystemdConfig c;
  c.unit = params.string("name");
  c.state = params.choice("state", {"", "started", "restarted"}, std::string());
  auto enabled = params.string("enabled", std::string());
  if (enabled == "true" || enabled == "yes") c.enabled = true;
  else if (enabled == "false" || enabled == "no") c.enabled = false;
  else if (!enabled.empty()) params.problem("enabled", "'" + enabled + "' is not true or false");
  c.daemon_reload = params.choice("daemon_reload", {"auto", "yes", "no"}, std::string("auto"));
  c.rollback = params.boolean("rollback", true);
  params.finish();
  if (!c.unit.empty() && c.unit.find('.') == std::string::npos)
    params.problem("name", "'" + c.unit + "' needs a unit suffix, e.g. docker.service");
  if (c.enabled && !*c.enabled) params.problem("enabled", "disabling units is not supported");
  if (!params.ok()) return nullptr;
  return std::make_unique<SystemdAction>(std::move(c));
}

}  // namespace rs::agent
