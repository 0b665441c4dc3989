#include "agent/modules/systemd_module.hpp"

#include <sstream>
#include <vector>

namespace rs::agent {

std::string unit_failure_text(HostContext& host, const std::string& unit) {
  // Only lines logged by the unit's own processes (dockerd), not systemd's about it.
  auto r = host.commands().run({"journalctl", "--no-pager", "-q", "-o", "cat", "-n", "20", "_SYSTEMD_UNIT=" + unit}, {},
                               std::chrono::seconds(15));
  std::vector<std::string> lines;
  if (r && r->exit_code == 0) {
    std::istringstream in(r->out);
    for (std::string line; std::getline(in, line);) {
      // dockerd's info/debug chatter around a failed start hides the one line that matters.
      if (line.empty() || line.find("level=info") != std::string::npos || line.find("level=debug") != std::string::npos ||
          line.find("level=warning") != std::string::npos)
        continue;
      lines.push_back(line);
    }
  }
  std::string text;
  for (std::size_t i = lines.size() > 2 ? lines.size() - 2 : 0; i < lines.size(); ++i)
    text += (text.empty() ? "" : " | ") + lines[i];
  if (text.empty()) {
    auto s = host.systemd().unit_state(unit);
    if (s) text = "unit is " + s->active_state + " (" + s->sub_state + ", result " + s->result + ", exit status " +
                  std::to_string(s->exec_main_status) + ")";
  }
  return text;
}

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
  bool reload = config_.daemon_reload == "yes" ||
                (config_.daemon_reload == "auto" && (host.unit_files_changed || state->need_daemon_reload));
  if (reload && !restarted_) diff.changes.push_back("daemon-reload");
  if (config_.enabled && *config_.enabled && state->unit_file_state != "enabled")
    diff.changes.push_back("enable '" + config_.unit + "' (now " + state->unit_file_state + ")");
  if (config_.state == "restarted" && !restarted_) diff.changes.push_back("restart '" + config_.unit + "'");
  if (config_.state == "started" && state->active_state != "active")
    diff.changes.push_back("start '" + config_.unit + "' (now " + state->active_state + ")");
  return diff;
}

Result<void> SystemdAction::apply(HostContext& host, const Diff& diff) {
  auto wants = [&](const std::string& prefix) {
    for (const auto& c : diff.changes)
      if (c.rfind(prefix, 0) == 0) return true;
    return false;
  };
  if (wants("daemon-reload")) {
    if (auto r = host.systemd().reload(); !r) return r.error();
    host.unit_files_changed = false;
  }
  if (wants("enable ")) {
    if (auto r = host.systemd().enable(config_.unit); !r) return r.error();
  }
  Result<void> job;
  if (wants("restart ")) job = host.systemd().restart(config_.unit);
  else if (wants("start ")) job = host.systemd().start(config_.unit);
  restarted_ = true;
  if (!job) {
    if (config_.rollback && !host.written().empty()) return roll_back(host, job.error());
    return make_error(job.error().code, job.error().message + ": " + unit_failure_text(host, config_.unit));
  }
  return ok();
}

Result<void> SystemdAction::roll_back(HostContext& host, const Error& failure) {
  // The unit's own error first: the rollback restart adds its own lines to the journal.
  std::string why = unit_failure_text(host, config_.unit);
  auto restored = host.restore_files();
  if (!restored) return make_error(failure.code, failure.message + ": " + why + "; rollback failed: " + restored.error().message);
  std::string files;
  for (const auto& f : *restored) files += (files.empty() ? "" : ", ") + f;
  std::string after;
  if (auto r = host.systemd().reload(); !r) {
    after = "daemon-reload after restore failed: " + r.error().message;
  } else {
    host.unit_files_changed = false;
    auto again = host.systemd().restart(config_.unit);
    after = again ? "'" + config_.unit + "' is active again with the previous files"
                  : "'" + config_.unit + "' still fails: " + again.error().message;
  }
  return make_error(failure.code, failure.message + ": " + why + "; restored " + files + "; " + after);
}

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
