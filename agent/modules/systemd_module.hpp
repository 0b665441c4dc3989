// systemd: daemon-reload when unit files changed, enable, start or restart a unit and wait
// for its job. A failed apply (in practice: the unit does not start) calls for the run's
// rollback, unless rollback: false.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/params.hpp"

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
  bool rolls_back_on_failure() const override { return config_.rollback; }

 private:
  SystemdConfig config_;
};

std::unique_ptr<Action> make_systemd_action(Params& params);

}  // namespace rs::agent
