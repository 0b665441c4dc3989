// What a running lab is made of, on disk, so that `status`, `exec`, `run` and `down` (other
// processes, later) find it, and `down` can undo a half-finished `up`.
//
// On-disk layout (base /run/registry-setup/lab, or $RS_LAB_RUN_DIR):
//   NAME/state.json              this LabState, written atomically after every step of up
//   NAME/ssh/id_ed25519{,.pub}   the lab's key; its public half is root's authorized_keys on nodes
//   NAME/ssh/known_hosts         every node's host key, under its name and address
//   NAME/ssh/config              ssh client config: that key, that known_hosts, strict checking
//   NAME/bin/ssh, NAME/bin/scp   wrappers adding `-F NAME/ssh/config`; first in PATH for `lab run`
//   NAME/env                     RS_LAB_* variables, shell-readable (`. NAME/env`)
//   NAME/nodes/HOST/upper,work   the node's overlay over the cached root filesystem
//   NAME/nodes/HOST/root         the overlay mount: the node's / as seen from the machine
//   NAME/nodes/HOST/docker       bound to the node's /var/lib/docker (overlay2 needs a plain fs)
//   NAME/nodes/HOST/console.log  systemd-nspawn's output (the node's console)
//   NAME/nodes/HOST/notify.sock  where systemd-nspawn reports READY=1 once the node has booted
// Root filesystem cache: /var/cache/registry-setup/rootfs-bookworm ($RS_LAB_CACHE), complete
// when it holds `.complete` (built by scripts/lab-rootfs.sh).
#pragma once

#include "core/result.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace rs::lab {

struct NodeState {
  std::string host;
  std::string address;
  std::string netns;
  pid_t nspawn_pid = 0;
  unsigned long long nspawn_start = 0;  // /proc/PID/stat start time: guards against PID reuse
  pid_t leader_pid = 0;                 // the node's systemd (PID 1 inside)
  unsigned long long leader_start = 0;
  bool mounted = false;  // the overlay root is mounted
};

struct LabState {
  std::string name;
  std::string phase;  // "starting", "up"
  std::string inventory;
  std::string rootfs;
  std::string switch_netns;
  std::string controller_netns;
  std::string controller_address;
  long long created_at = 0;          // seconds since the epoch
  std::vector<std::string> netns;    // created so far, in creation order
  std::vector<NodeState> nodes;

  NodeState* node(const std::string& host);
  const NodeState* node(const std::string& host) const;
};

std::string state_to_json(const LabState& state);
Result<LabState> state_from_json(const std::string& text);

struct LabPaths {
  std::string dir;  // base/NAME

  static std::string base();  // $RS_LAB_RUN_DIR or /run/registry-setup/lab
  static LabPaths of(const std::string& lab_name);
  static std::string rootfs_cache();  // $RS_LAB_CACHE or /var/cache/registry-setup/rootfs-bookworm

  std::string state() const { return dir + "/state.json"; }
  std::string ssh_dir() const { return dir + "/ssh"; }
  std::string key() const { return dir + "/ssh/id_ed25519"; }
  std::string known_hosts() const { return dir + "/ssh/known_hosts"; }
  std::string ssh_config() const { return dir + "/ssh/config"; }
  std::string bin_dir() const { return dir + "/bin"; }
  std::string env_file() const { return dir + "/env"; }
  std::string node_dir(const std::string& host) const { return dir + "/nodes/" + host; }
  std::string node_root(const std::string& host) const { return node_dir(host) + "/root"; }
};

Result<void> write_state(const LabPaths& paths, const LabState& state);
// Errc::not_found when the lab is not up.
Result<LabState> read_state(const LabPaths& paths);

}  // namespace rs::lab
