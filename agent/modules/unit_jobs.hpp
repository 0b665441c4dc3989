// The systemd work that modules share: a diff's unit changes carried out in systemd's
// order, and a failed unit's own last words.
#pragma once

#include "agent/modules/action.hpp"

#include <string>

namespace rs::agent {

// Runs the unit changes of `diff` for `unit`: daemon-reload (also when `reload_if_stale`
// and this run changed unit files or the manager asks for it), enable, then restart or
// start. A failed job's error carries unit_failure_text().
Result<void> run_unit_jobs(HostContext& host, const std::string& unit, const Diff& diff, bool reload_if_stale = false);

// The unit's own last words: its processes' journal lines, else its state.
std::string unit_failure_text(HostContext& host, const std::string& unit);

}  // namespace rs::agent
