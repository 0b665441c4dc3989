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

// "PLAY RECAP" and one line of counts per host.
std::string render_recap(const std::vector<HostReport>& reports);

// The whole run as one JSON document (file contents with --diff).
std::string render_apply_json(const std::vector<HostReport>& reports, const ApplyOptions& options, int exit_code);

}  // namespace rs::agent
