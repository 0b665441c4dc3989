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

// The check after apply must come out settled, or apply did not do what check asked for.
// Empty when it did, else why not.
std::string verify_applied(PlannedTask& task, HostContext& host, const std::string& when) {
  auto again = task.action->check(host);
  if (!again) return "check " + when + ": " + again.error().message;
  if (!again->settled()) return "still differs " + when + ": " + again->first_unsettled();
  return {};
}

// The run's rollback: the files this run wrote on the host go back, and the task runs again
// on them, so the service comes back as it was. Returns what to add to the failure.
std::string roll_back(PlannedTask& task, HostContext& host) {
  auto restored = host.restore_files();
  if (!restored) return "; rollback failed: " + restored.error().message;
  std::string files;
  for (const auto& f : *restored) files += (files.empty() ? "" : ", ") + f;
  // Restored unit files are loaded whatever the task's own daemon_reload says.
  if (host.unit_files_changed())
    if (auto r = host.daemon_reload(); !r) return "; restored " + files + "; daemon-reload failed: " + r.error().message;
  auto diff = task.action->check(host);
  auto again = diff ? task.action->apply(host, *diff) : Result<void>(diff.error());
  return "; restored " + files + "; " +
         (again ? "'" + task.spec->name + "' succeeded again with the previous files"
                : "'" + task.spec->name + "' still fails with the previous files: " + again.error().message);
}

// Checks the task, applies its diff unless in check mode; `verify_now` checks again right
// after apply (a task whose handlers finish its work is checked after they ran).
TaskReport run_task(PlannedTask& task, const std::string& play, bool handler, HostContext& host,
                    const RunOptions& options, bool verify_now) {
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
    if (task.action->rolls_back_on_failure() && !host.written().empty()) r.message += roll_back(task, host);
    return r;
  }
  if (verify_now)
    if (auto why = verify_applied(task, host, "after apply"); !why.empty()) {
      r.status = TaskStatus::failed;
      r.message = why;
    }
  return r;
}

}  // namespace

bool run_play(PlannedPlay& play, HostContext& host, const RunOptions& options, const TaskObserver& observer,
              HostReport& report, bool failed) {
  auto add = [&](TaskReport r) {
    if (observer) observer(host.name(), r);
    report.tasks.push_back(std::move(r));
  };
  std::set<std::string> notified;
  std::vector<PlannedTask*> awaiting_handlers;
  for (auto& task : play.tasks) {
    if (failed && !options.keep_going) {
      auto r = new_report(task, play.play->name, false, TaskStatus::skipped);
      r.message = "an earlier task failed on this host";
      add(std::move(r));
      continue;
    }
    const bool notifies = !task.spec->notify.empty();
    auto r = run_task(task, play.play->name, false, host, options, !notifies);
    if (r.status == TaskStatus::changed && r.diff.needs_handlers) {
      notified.insert(task.spec->notify.begin(), task.spec->notify.end());
      if (notifies && !options.check) awaiting_handlers.push_back(&task);
    }
    failed = r.status == TaskStatus::failed;
    add(std::move(r));
  }
  // Handlers run once each, in the order they are defined; also after a later task
  // failed, so a change already made is not left without its restart.
  bool handler_failed = false;
  for (auto& handler : play.handlers) {
    if (!notified.count(handler.spec->name)) continue;
    auto r = run_task(handler, play.play->name, true, host, options, true);
    handler_failed = handler_failed || r.status == TaskStatus::failed;
    add(std::move(r));
  }
  failed = failed || handler_failed;
  // What a notifying task changed is complete once its handlers ran (a drop-in is loaded
  // by the restart); a failed handler already failed the host.
  if (handler_failed) return failed;
  for (auto* task : awaiting_handlers) {
    auto why = verify_applied(*task, host, "after its handlers ran");
    if (why.empty()) continue;
    auto r = new_report(*task, play.play->name, false, TaskStatus::failed);
    r.message = why;
    failed = true;
    add(std::move(r));
  }
  return failed;
}

void skip_play(const PlannedPlay& play, const std::string& why, HostReport& report) {
  for (const auto& task : play.tasks) {
    auto r = new_report(task, play.play->name, false, TaskStatus::skipped);
    r.message = why;
    report.tasks.push_back(std::move(r));
  }
}

HostReport run_host(HostPlan& plan, HostContext& host, const RunOptions& options, const TaskObserver& observer) {
  HostReport report;
  report.host = host.name();
  bool failed = false;
  for (auto& play : plan.plays) failed = run_play(play, host, options, observer, report, failed);
  return report;
}

}  // namespace rs::agent
