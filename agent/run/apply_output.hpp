// What `apply` prints: a line per task as it finishes (with its diff on request), the
// recap per host, or one JSON document instead of both.
#pragma once

#include "agent/run/runner.hpp"

#include <string>
#include <vector>

namespace rs::agent {

struct ApplyOptions;

// "changed: [host] task (module: summary) => message", warnings, and with `show_diff` the changes.
std::string task_line(const std::string& host, const TaskReport& task, bool show_diff);

// "PLAY RECAP" and one line of counts per host ("never touched" for hosts a stopped run
// did not reach).
std::string render_recap(const std::vector<HostReport>& reports);

// The whole run as one JSON document (file contents with --diff); `stopped`: why a rolling
// run stopped early, empty when it did not.
std::string render_apply_json(const std::vector<HostReport>& reports, const ApplyOptions& options, int exit_code,
                              const std::string& stopped = {});

}  // namespace rs::agent
