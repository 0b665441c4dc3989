// Runs a host's plan: each task checked, applied when it differs, checked again; handlers
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
  std::string message;  // why the host is unreachable
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

HostReport run_host(HostPlan& plan, HostContext& host, const RunOptions& options, const TaskObserver& observer);

}  // namespace rs::agent
