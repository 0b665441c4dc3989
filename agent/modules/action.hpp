// Actions: each task is a CheckApply unit. check() reads the host every time and keeps
// nothing between calls; apply() makes what a diff from check() describes; the runner
// checks again afterwards (for a task that notifies handlers: after they ran).
#pragma once

#include "agent/host/host_context.hpp"
#include "agent/modules/fact.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

struct FileChange {
  std::string path;
  std::optional<std::string> before;  // nullopt: the file does not exist yet
  std::string after;
  bool binary = false;  // shown by size and digest, not by lines
};

// What a change other than a file's content does to the host.
enum class ChangeKind {
  live_value,     // a running value set in place (a kernel parameter under /proc/sys)
  daemon_reload,  // systemd re-reads the unit files
  enable,         // a unit's [Install] links created
  start,          // a unit that is not active started
  restart,        // a unit restarted
  unloaded,       // the files are right but the running service has not loaded them yet
  reload,         // a running service re-reads its configuration in place (no restart)
};

struct Change {
  ChangeKind kind;
  std::string text;  // for humans: "restart 'docker.service'"
  // Asked for on every run (state: restarted, daemon_reload: yes): each apply does it, so a
  // check after apply still lists it.
  bool every_run = false;
};

struct Diff {
  std::vector<FileChange> files;
  std::vector<Change> changes;
  std::vector<std::string> warnings;  // do not make the diff non-empty
  // Whether the handlers a changed task notifies are needed to finish the change; false
  // when apply completes it in place (dockerd reloaded instead of restarted).
  bool needs_handlers = true;

  bool empty() const { return files.empty() && changes.empty(); }
  bool has(ChangeKind kind) const;
  // Nothing is left but what is asked for on every run: the state a check after apply must see.
  bool settled() const;
  // The first change a settled diff must not have, for messages ("'/etc/x' differs").
  std::string first_unsettled() const;
};

// Where a task's facts are shown and who observes them.
struct FactScope {
  std::string task;     // the task's name: facts are shown under it
  std::string host;     // the inventory host the task runs on
  std::string address;  // where the control machine reaches that host
};

class Action {
 public:
  virtual ~Action() = default;
  // Reads the host and returns what apply would change; empty when it is already right.
  // Keeps nothing: two checks of an unchanged host return the same diff.
  virtual Result<Diff> check(HostContext& host) = 0;
  // Makes the changes `diff` (from check) describes.
  virtual Result<void> apply(HostContext& host, const Diff& diff) = 0;
  // One line for output, e.g. "net.ipv4.ip_forward = 1".
  virtual std::string summary() const = 0;
  // Whether a failed apply calls for the run's rollback: the files this run wrote on the
  // host put back, then this task run again (a service that does not start with them).
  virtual bool rolls_back_on_failure() const { return false; }
  // The read-only facts verify observes for this task beyond its check.
  virtual std::vector<Fact> facts(const FactScope&) const { return {}; }
  // Registries ("host:port" or CIDR) this task makes the host's docker trust.
  virtual std::vector<std::string> trusted_registries() const { return {}; }
};

}  // namespace rs::agent
