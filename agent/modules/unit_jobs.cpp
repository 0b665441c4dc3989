#include "agent/modules/unit_jobs.hpp"

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

Result<void> run_unit_jobs(HostContext& host, const std::string& unit, const Diff& diff, bool reload_if_stale) {
  bool reload = diff.has(ChangeKind::daemon_reload);
  if (!reload && reload_if_stale) {
    auto state = host.systemd().unit_state(unit);
    if (!state) return state.error();
    reload = host.unit_files_changed() || state->need_daemon_reload;
  }
  if (reload)
    if (auto r = host.daemon_reload(); !r) return r.error();
  if (diff.has(ChangeKind::enable))
    if (auto r = host.systemd().enable(unit); !r) return r.error();
  Result<void> job;
  if (diff.has(ChangeKind::restart)) job = host.systemd().restart(unit);
  else if (diff.has(ChangeKind::start)) job = host.systemd().start(unit);
  if (!job) return make_error(job.error().code, job.error().message + ": " + unit_failure_text(host, unit));
  return ok();
}

}  // namespace rs::agent
