// Runs a host's plays: each task checked, applied when it differs, checked again; handlers
// once at the end of the play, only when a task that notified them changed something.
#pragma once

#include "agent/run/playbook.hpp"

#include <functional>
#include <string>
#include <vector>

namespace rs::agent {

enum class TaskStatus { ok, changed, failed, skipped };
const char* to_string(TaskStatus s);

struct TaskReport {
  std::string play;
  std::string task;
  std::string module;
  std::string summary;
  bool handler = false;
  TaskStatus status = TaskStatus::ok;
  Diff diff;
  std::string message;  // why it failed or was skipped
};

struct HostReport {
  std::string host;
  bool unreachable = false;
  bool untouched = false;  // a rolling run stopped before this host's first play
  std::string message;  // why the host is unreachable or untouched
  std::vector<TaskReport> tasks;

  int count(TaskStatus s) const;
  bool failed() const { return count(TaskStatus::failed) > 0; }
};

struct RunOptions {
  bool check = false;  // report what would change, change nothing
  bool keep_going = false;  // check every task even after one failed (verify: nothing changes anyway)
};

// Called as each task finishes (from the host's worker thread).
using TaskObserver = std::function<void(const std::string& host, const TaskReport&)>;

// Runs one play's tasks and handlers on the host, adding to `report`; `failed`: an earlier
// play failed on it (its tasks are reported skipped). Returns whether the host has failed.
bool run_play(PlannedPlay& play, HostContext& host, const RunOptions& options, const TaskObserver& observer,
              HostReport& report, bool failed);

// The play's tasks reported skipped for `why`, the host not contacted.
void skip_play(const PlannedPlay& play, const std::string& why, HostReport& report);

// Every play of the plan in turn on one host.
HostReport run_host(HostPlan& plan, HostContext& host, const RunOptions& options, const TaskObserver& observer);

}  // namespace rs::agent
