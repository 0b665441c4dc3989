#include "lab/lab.hpp"

#include "lab/files.hpp"
#include "lab/network.hpp"
#include "lab/node.hpp"
#include "lab/process.hpp"
#include "lab/system.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>

namespace fs = std::filesystem;

namespace rs::lab {
namespace {

using namespace std::chrono_literals;

constexpr auto kStopTimeout = 30s;

// Set by SIGINT/SIGTERM/SIGHUP while `up` runs: it stops at the next step and cleans up.
volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

Result<void> check_interrupted() {
  if (g_interrupted) return make_error(Errc::conflict, "interrupted");
  return ok();
}

// Installs on_interrupt for the lifetime of `up`, restores the previous handlers after.
class InterruptScope {
 public:
  InterruptScope() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocking poll returns and sees the flag
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~InterruptScope() {
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3] {};
};
struct Tool {
  const char* name;
  const char* package;
};
constexpr Tool kTools[] = {
    {"ip", "iproute2"},          {"systemd-nspawn", "systemd-container"}, {"nsenter", "util-linux"},
    {"ssh-keygen", "openssh-client"}, {"ssh", "openssh-client"},
};

// Stops, unmounts and deletes whatever `state` records; keeps going after a failure and
// reports the first one.
Result<void> teardown(LabState& state, const LabPaths& paths, const Progress& progress) {
  Result<void> first_error;
  auto note = [&](Result<void> r) {
    if (!r && first_error) first_error = r;
  };

  // Only the processes this lab started: each nspawn (and its node's systemd), by PID,
  // checked against the start time recorded when it was started.
  std::vector<pid_t> stopping;
  for (const auto& n : state.nodes) {
    if (n.nspawn_pid > 0 && process_matches(n.nspawn_pid, n.nspawn_start)) {
      kill(n.nspawn_pid, SIGTERM);  // nspawn turns this into an orderly shutdown of the node
      stopping.push_back(n.nspawn_pid);
    }
  }
  if (!stopping.empty()) {
    progress("stopping " + std::to_string(stopping.size()) + " node(s)");
    auto left = wait_for_exit(stopping, kStopTimeout);
    for (pid_t pid : left) progress("  systemd-nspawn " + std::to_string(pid) + " did not stop in time: killing it");
  }
  std::vector<pid_t> killed;
  for (const auto& n : state.nodes) {
    // SIGKILL to a PID namespace's init ends every process in it.
    if (n.leader_pid > 0 && process_matches(n.leader_pid, n.leader_start)) {
      kill(n.leader_pid, SIGKILL);
      killed.push_back(n.leader_pid);
    }
    if (n.nspawn_pid > 0 && process_matches(n.nspawn_pid, n.nspawn_start)) {
      kill(n.nspawn_pid, SIGKILL);
      killed.push_back(n.nspawn_pid);
    }
  }
  if (!killed.empty()) {
    auto left = wait_for_exit(killed, 10s);
    if (!left.empty()) note(make_error(Errc::timeout, "processes did not exit after SIGKILL"));
  }

  for (auto& n : state.nodes) {
    for (const auto& m : mounts_under(paths.node_dir(n.host))) note(unmount(m));
    n.mounted = false;
  }
  for (auto it = state.netns.rbegin(); it != state.netns.rend(); ++it) note(delete_netns(*it));
  // Also a namespace created just before an interrupted `up` could record it.
  for (const auto& ns : lab_netns_on_machine(state.name)) note(delete_netns(ns));
  state.netns.clear();

  // Never delete through a mount: only remove the directory when nothing is mounted below.
  auto left = mounts_under(paths.dir);
  if (!left.empty()) {
    note(make_error(Errc::conflict, "still mounted: " + left.front() + "; state kept in " + paths.dir));
    return first_error;
  }
  std::error_code ec;
  fs::remove_all(paths.dir, ec);
  if (ec) note(make_error(Errc::io, "remove '" + paths.dir + "': " + ec.message()));
  return first_error;
}

// A lab of this name left nothing behind: no state, no namespace, no mount.
Result<void> check_nothing_left(const LabPlan& plan, const LabPaths& paths) {
  struct stat st {};
  if (stat(paths.state().c_str(), &st) == 0)
    return make_error(Errc::already_exists, "lab '" + plan.name + "' is already up (state in " + paths.dir +
                                                "); 'registry-setup lab down --name " + plan.name + "' first");
  for (const auto& ns : plan.all_netns())
    if (netns_exists(ns))
      return make_error(Errc::already_exists, "network namespace '" + ns + "' already exists (left by an "
                                              "interrupted run?); 'registry-setup lab down --name " + plan.name +
                                              "' removes it");
  if (!mounts_under(paths.dir).empty())
    return make_error(Errc::conflict, "something is still mounted under " + paths.dir);
  return ok();
}

LabState starting_state(const LabPlan& plan, const UpOptions& options, const std::string& rootfs) {
  LabState state;
  state.name = plan.name;
  state.phase = "starting";
  state.inventory = options.inventory;
  state.rootfs = rootfs;
  state.switch_netns = plan.switch_netns;
  state.controller_netns = plan.controller_netns;
  state.controller_address = plan.controller_address;
  state.created_at = static_cast<long long>(std::time(nullptr));
  for (const auto& n : plan.nodes) state.nodes.push_back(NodeState{n.host, n.address, n.netns, 0, 0, 0, 0, false});
  return state;
}

// The switch, the controller and a namespace per node, each recorded as soon as it exists.
Result<void> make_network(const LabPlan& plan, const LabPaths& paths, LabState& state, const Progress& progress) {
  std::string subnets;
  for (const auto& x : plan.subnets) subnets += (subnets.empty() ? "" : ", ") + x;
  progress("network: switch, controller " + plan.controller_address + ", " + std::to_string(plan.nodes.size()) +
           " node namespace(s) on " + subnets);
  auto record = [&](const std::string& ns) -> Result<void> {
    state.netns.push_back(ns);
    return write_state(paths, state);
  };
  if (auto r = create_network(plan, record); !r) return r.error().with_context("network");
  return ok();
}

// The lab's own ssh key pair; returns the public key.
Result<std::string> make_lab_key(const LabPlan& plan, const LabPaths& paths) {
  auto keygen = run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "registry-setup-lab-" + plan.name,
                             "-f", paths.key()},
                            kCommandTimeout);
  if (!keygen) return keygen.error();
  return read_public_key(paths.key() + ".pub");
}

// Mounts each node's overlay (recorded before anything is written into it) and writes its
// files; returns the nodes' public host keys in plan order.
Result<std::vector<std::string>> prepare_nodes(const LabPlan& plan, const LabPaths& paths, const std::string& rootfs,
                                               const std::string& lab_key, const std::string& docker_opts,
                                               LabState& state) {
  std::vector<std::string> host_keys;
  for (const auto& node : plan.nodes) {
    const std::string dir = paths.node_dir(node.host);
    for (const char* sub : {"upper", "work", "root", "docker"})
      if (auto r = make_dirs(dir + "/" + sub, 0755); !r) return r.error();
    if (auto r = mount_overlay(rootfs, dir + "/upper", dir + "/work", dir + "/root"); !r) return r.error();
    state.node(node.host)->mounted = true;
    if (auto r = write_state(paths, state); !r) return r.error();
    auto host_key = prepare_node_files(plan, node, paths, lab_key, docker_opts);
    if (!host_key) return host_key.error().with_context("node '" + node.host + "'");
    host_keys.push_back(*host_key);
  }
  return host_keys;
}

// Every step of `up` after the state exists, stopping at the first failure or interrupt.
Result<void> bring_up(const LabPlan& plan, const UpOptions& options, const LabPaths& paths, const std::string& rootfs,
                      LabState& state, const Progress& progress) {
  if (auto r = make_network(plan, paths, state, progress); !r) return r;

  if (auto r = check_interrupted(); !r) return r;
  progress("keys: the lab's ssh key and a host key per node");
  auto lab_key = make_lab_key(plan, paths);
  if (!lab_key) return lab_key.error();

  if (auto r = check_interrupted(); !r) return r;
  progress("nodes: overlays on " + rootfs);
  auto host_keys = prepare_nodes(plan, paths, rootfs, *lab_key, options.docker_opts, state);
  if (!host_keys) return host_keys.error();
  if (auto r = write_controller_files(plan, paths, *host_keys); !r) return r;

  if (auto r = check_interrupted(); !r) return r;
  progress("booting " + std::to_string(plan.nodes.size()) + " node(s): systemd, docker, sshd (systemd-nspawn)");
  if (auto r = boot_nodes(plan, state, paths, options.boot_timeout, progress, [] { return g_interrupted != 0; }); !r)
    return r;
  if (auto r = check_interrupted(); !r) return r;
  state.phase = "up";
  return write_state(paths, state);
}

}  // namespace

Result<void> preflight() {
  if (geteuid() != 0)
    return make_error(Errc::permission_denied,
                      "the lab needs root (network namespaces, mounts and systemd-nspawn); run it with sudo or as root");
  std::string missing;
  for (const auto& tool : kTools)
    if (find_program(tool.name).empty())
      missing += std::string(missing.empty() ? "" : ", ") + tool.name + " (package " + tool.package + ")";
  if (!missing.empty())
    return make_error(Errc::not_found, "missing tools: " + missing + "; scripts/install-deps.sh lab installs them");
  auto filesystems = read_file("/proc/filesystems", 1 << 16);
  if (filesystems && filesystems->find("\toverlay\n") == std::string::npos)
    run_command({"modprobe", "overlay"}, 10s).ok();  // may be a module; the mount error will say if not
  return ok();
}

Result<std::string> cached_rootfs() {
  std::string rootfs = LabPaths::rootfs_cache();
  struct stat st {};
  if (stat((rootfs + "/.complete").c_str(), &st) != 0)
    return make_error(Errc::not_found, "no cached node root filesystem at " + rootfs +
                                           ": build it once with scripts/lab-rootfs.sh (needs debootstrap and "
                                           "Debian's mirror, about 2 minutes)");
  return rootfs;
}

Result<std::string> ensure_rootfs(const Progress& progress) {
  auto cached = cached_rootfs();
  if (cached) return cached;
  std::string script;
  if (const char* env = std::getenv("RS_LAB_ROOTFS_SCRIPT"); env && *env) {
    script = env;
  } else {
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) script = (exe.parent_path().parent_path() / "scripts" / "lab-rootfs.sh").string();
  }
  if (script.empty() || access(script.c_str(), X_OK) != 0) return cached.error();
  progress("building the node root filesystem once (debootstrap, about 2 minutes): " + script);
  auto rc = run_attached({script}, std::chrono::minutes(20));
  if (!rc) return rc.error();
  if (*rc != 0)
    return make_error(Errc::unavailable, "'" + script + "' failed with exit code " + std::to_string(*rc));
  return cached_rootfs();
}

Result<LabState> up(const LabPlan& plan, const UpOptions& options, const Progress& progress) {
  auto started = std::chrono::steady_clock::now();
  const LabPaths paths = LabPaths::of(plan.name);
  auto rootfs = ensure_rootfs(progress);
  if (!rootfs) return rootfs.error();
  if (auto r = check_nothing_left(plan, paths); !r) return r.error();
  std::error_code ec;
  fs::remove_all(paths.dir, ec);  // leftovers of an interrupted run (nothing mounted, no state)

  for (const std::string& d : {paths.dir, paths.ssh_dir(), paths.bin_dir()})
    if (auto r = make_dirs(d, 0700); !r) return r.error();
  LabState state = starting_state(plan, options, *rootfs);
  if (auto r = write_state(paths, state); !r) return r.error();

  InterruptScope interrupt_scope;
  if (auto r = bring_up(plan, options, paths, *rootfs, state, progress); !r) {
    progress("failed; removing what was made");
    teardown(state, paths, [&](const std::string& line) { progress("  " + line); }).ok();
    return r.error();
  }
  progress("lab '" + plan.name + "' is up in " + seconds_since(started));
  return state;
}

Result<void> down(const std::string& lab_name, const Progress& progress) {
  const LabPaths paths = LabPaths::of(lab_name);
  auto state = read_state(paths);
  if (!state) {
    if (state.error().code != Errc::not_found) return state.error();
    // No state: remove what an interrupted `up` may have left (namespaces, directory).
    struct stat st {};
    if (lab_netns_on_machine(lab_name).empty() && stat(paths.dir.c_str(), &st) != 0)
      return make_error(Errc::not_found, "lab '" + lab_name + "' is not up (no " + paths.state() + ")");
    LabState leftovers;
    leftovers.name = lab_name;
    state = leftovers;
  }
  auto started = std::chrono::steady_clock::now();
  if (auto r = teardown(*state, paths, progress); !r) return r;
  progress("lab '" + lab_name + "' is down (" + seconds_since(started) + ")");
  return ok();
}

Result<LabState> load(const std::string& lab_name) {
  const LabPaths paths = LabPaths::of(lab_name);
  auto state = read_state(paths);
  if (!state && state.error().code == Errc::not_found)
    return make_error(Errc::not_found, "lab '" + lab_name + "' is not up (no " + paths.state() + ")");
  return state;
}

std::vector<NodeStatus> node_status(const LabState& state) {
  std::vector<NodeStatus> out;
  for (const auto& n : state.nodes) {
    NodeStatus s;
    s.host = n.host;
    s.address = n.address;
    s.netns = n.netns;
    s.leader_pid = n.leader_pid;
    s.running = n.leader_pid > 0 && process_matches(n.leader_pid, n.leader_start);
    if (s.running) {
      auto r = run_command({"nsenter", "-t", std::to_string(n.leader_pid), "-a", "systemctl", "is-system-running"}, 10s);
      if (r) {
        s.system_state = r->out;
        while (!s.system_state.empty() && s.system_state.back() == '\n') s.system_state.pop_back();
      }
    } else {
      s.system_state = "stopped";
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<Exec> node_exec(const LabState& state, const std::string& host, const std::vector<std::string>& command) {
  const NodeState* n = state.node(host);
  if (!n) {
    std::string hosts;
    for (const auto& x : state.nodes) hosts += (hosts.empty() ? "" : ", ") + x.host;
    return make_error(Errc::not_found, "no node '" + host + "' in lab '" + state.name + "' (nodes: " + hosts + ")");
  }
  if (n->leader_pid <= 0 || !process_matches(n->leader_pid, n->leader_start))
    return make_error(Errc::unavailable, "node '" + host + "' is not running");
  std::string nsenter = find_program("nsenter");
  if (nsenter.empty()) return make_error(Errc::not_found, "nsenter is missing (package util-linux)");
  Exec e;
  e.argv = {nsenter, "-t", std::to_string(n->leader_pid), "-a", "--"};
  e.argv.insert(e.argv.end(), command.begin(), command.end());
  e.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "USER=root",
           "LOGNAME=root", "LANG=C.UTF-8"};
  if (const char* term = std::getenv("TERM")) e.env.push_back(std::string("TERM=") + term);
  return e;
}

std::vector<std::pair<std::string, std::string>> controller_env(const LabState& state) {
  const LabPaths paths = LabPaths::of(state.name);
  const char* path = std::getenv("PATH");
  return {{"PATH", paths.bin_dir() + ":" + (path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")},
          {"RS_LAB_NAME", state.name},
          {"RS_LAB_DIR", paths.dir},
          {"RS_LAB_SSH_CONFIG", paths.ssh_config()},
          {"RS_LAB_SSH_KEY", paths.key()},
          {"RS_LAB_KNOWN_HOSTS", paths.known_hosts()},
          {"RS_LAB_CONTROLLER", state.controller_address}};
}

}  // namespace rs::lab
