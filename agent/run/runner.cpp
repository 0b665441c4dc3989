#include "agent/run/runner.hpp"

#include <set>

namespace rs::agent {

const char* to_string(TaskStatus s) {
  switch (s) {
    case TaskStatus::ok: return "ok";
    case TaskStatus::changed: return "changed";
    case TaskStatus::failed: return "failed";
    case TaskStatus::skipped: return "skipped";
  }
  return "?";
}

int HostReport::count(TaskStatus s) const {
  int n = 0;
  for (const auto& t : tasks) n += t.status == s;
  return n;
}

namespace {

TaskReport new_report(const PlannedTask& task, const std::string& play, bool handler, TaskStatus status) {
  TaskReport r;
  r.play = play;
  r.task = task.spec->name;
  r.module = task.spec->module;
  r.summary = task.action->summary();
  r.handler = handler;
  r.status = status;
  return r;
}

TaskReport run_task(PlannedTask& task, const std::string& play, bool handler, HostContext& host,
                    const RunOptions& options) {
  TaskReport r = new_report(task, play, handler, TaskStatus::ok);
  auto diff = task.action->check(host);
  if (!diff) {
    r.status = TaskStatus::failed;
    r.message = diff.error().message;
    return r;
  }
  r.diff = *diff;
  if (diff->empty()) return r;
  r.status = TaskStatus::changed;
  if (options.check) return r;
  if (auto applied = task.action->apply(host, *diff); !applied) {
    r.status = TaskStatus::failed;
    r.message = applied.error().message;
    return r;
  }
  // The second check must be clean, or apply did not do what check asked for.
  auto again = task.action->check(host);
  if (!again) {
    r.status = TaskStatus::failed;
    r.message = "check after apply: " + again.error().message;
  } else if (!again->empty()) {
    r.status = TaskStatus::failed;
    r.message = "still differs after apply: " +
                (again->changes.empty() ? "'" + again->files.front().path + "'" : again->changes.front());
  }
  return r;
}

}  // namespace

HostReport run_host(HostPlan& plan, HostContext& host, const RunOptions& options, const TaskObserver& observer) {
  HostReport report;
  report.host = host.name();
  bool failed = false;
  for (auto& play : plan.plays) {
    std::set<std::string> notified;
    for (auto& task : play.tasks) {
      TaskReport r;
      if (failed && !options.keep_going) {
        r = new_report(task, play.play->name, false, TaskStatus::skipped);
        r.message = "an earlier task failed on this host";
      } else {
        r = run_task(task, play.play->name, false, host, options);
        if (r.status == TaskStatus::changed) notified.insert(task.spec->notify.begin(), task.spec->notify.end());
        failed = r.status == TaskStatus::failed;
      }
      if (observer) observer(host.name(), r);
      report.tasks.push_back(std::move(r));
    }
    // Handlers run once each, in the order they are defined; also after a later task
    // failed, so a change already made is not left without its restart.
    for (auto& handler : play.handlers) {
      if (!notified.count(handler.spec->name)) continue;
      auto r = run_task(handler, play.play->name, true, host, options);
      failed = failed || r.status == TaskStatus::failed;
      if (observer) observer(host.name(), r);
      report.tasks.push_back(std::move(r));
    }
  }
  return report;
}

}  // namespace rs::agent
