// The systemd manager of one host: unit properties, daemon-reload, jobs, enablement.
#pragma once

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace rs::agent {

struct UnitState {
  std::string load_state;       // "loaded", "not-found", ...
  std::string active_state;     // "active", "failed", ...
  std::string sub_state;        // "running", "dead", ...
  std::string unit_file_state;  // "enabled", "disabled", "static", ...
  std::string result;           // the service's Result: "success", "exit-code", ...
  bool need_daemon_reload = false;
  int exec_main_status = 0;  // exit status of the main process
  std::uint32_t main_pid = 0;  // the service's main process while it runs, else 0
};

class Systemd {
 public:
  virtual ~Systemd() = default;
  // The argv of each ExecStart= entry of a service, unexpanded ("$DOCKER_OPTS" stays).
  virtual Result<std::vector<std::vector<std::string>>> exec_start(const std::string& unit) = 0;
  // Loads the unit if needed and reads its state.
  virtual Result<UnitState> unit_state(const std::string& unit) = 0;
  // daemon-reload; returns when the manager has reloaded.
  virtual Result<void> reload() = 0;
  // Queue a start/restart job, wait for its JobRemoved, then require result "done" and
  // ActiveState "active"; anything else is an error naming both.
  virtual Result<void> start(const std::string& unit) = 0;
  virtual Result<void> restart(const std::string& unit) = 0;
  // Has a running service re-read its configuration in place, as `systemctl reload` does
  // where the unit has ExecReload= (a ReloadUnit job, waited for), else SIGHUP to its main
  // process (KillUnit), which is how dockerd reloads. The service must be active.
  virtual Result<void> reload_unit(const std::string& unit) = 0;
  // Enables the unit's [Install] symlinks (like `systemctl enable`), then reloads.
  virtual Result<void> enable(const std::string& unit) = 0;
};

}  // namespace rs::agent
