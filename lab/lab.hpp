// The lab's life cycle: bring a planned lab up, report on it, run commands in it, take it
// down. Every resource `up` creates is recorded in the LabState before the next step, so
// `down` (or `up`'s own rollback) removes exactly what exists.
#pragma once

#include "core/result.hpp"
#include "lab/plan.hpp"
#include "lab/state.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace rs::lab {

// One line per long step, for the user.
using Progress = std::function<void(const std::string&)>;

struct UpOptions {
  std::string inventory;                  // recorded in the state
  std::string docker_opts;                // DOCKER_OPTS in each node's /etc/default/docker
  std::chrono::seconds boot_timeout{90};  // per lab, for every node to report READY
};

// Root, the tools (ip, systemd-nspawn, nsenter, ssh-keygen, ssh) and overlayfs; the error
// names what is missing and the package that brings it.
Result<void> preflight();
// The cached root filesystem, or an error saying how to build it.
Result<std::string> cached_rootfs();
// As cached_rootfs, but builds the cache first when it is missing, with the project's
// scripts/lab-rootfs.sh found next to the executable (build/../scripts) or at
// $RS_LAB_ROOTFS_SCRIPT (debootstrap, about 2 minutes, once).
Result<std::string> ensure_rootfs(const Progress& progress);

// Creates namespaces, bridge, overlays, keys; boots the nodes and waits until each has
// finished booting with docker.service and ssh.service active. On failure everything made
// so far is removed again.
Result<LabState> up(const LabPlan& plan, const UpOptions& options, const Progress& progress);

// Stops the nodes (SIGTERM to systemd-nspawn = orderly shutdown, SIGKILL after a timeout),
// unmounts, deletes the namespaces and the state directory. Errc::not_found when no such lab.
Result<void> down(const std::string& lab_name, const Progress& progress);

struct NodeStatus {
  std::string host;
  std::string address;
  std::string netns;
  pid_t leader_pid = 0;
  bool running = false;
  std::string system_state;  // `systemctl is-system-running`, e.g. "running", "degraded"
};

Result<LabState> load(const std::string& lab_name);
std::vector<NodeStatus> node_status(const LabState& state);

// The argv and environment that run a command on a node (nsenter into all of its
// namespaces, a clean root environment). Errc::not_found for an unknown or stopped node.
struct Exec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=value"
};
Result<Exec> node_exec(const LabState& state, const std::string& host, const std::vector<std::string>& command);

// The environment `lab run` adds: the lab's ssh wrappers first in PATH and RS_LAB_*.
std::vector<std::pair<std::string, std::string>> controller_env(const LabState& state);

}  // namespace rs::lab
