// systemd: daemon-reload when unit files changed, enable, start or restart a unit and wait
// for its job. A failed start/restart rolls back the files this run changed.
#pragma once

#include "agent/modules/module.hpp"

namespace rs::agent {

struct SystemdConfig {
  std::string unit;
  std::string state;  // "", "started", "restarted"
  std::optional<bool> enabled;
  std::string daemon_reload = "auto";  // auto (when unit files changed), yes, no
  bool rollback = true;
};

class SystemdAction : public Action {
 public:
  explicit SystemdAction(SystemdConfig config) : config_(std::move(config)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;

 private:
  Result<void> roll_back(HostContext& host, const Error& failure);

  SystemdConfig config_;
  bool restarted_ = false;
};

std::unique_ptr<Action> make_systemd_action(Params& params);

// The unit's own last words: its processes' journal lines, else its state.
std::string unit_failure_text(HostContext& host, const std::string& unit);

}  // namespace rs::agent
