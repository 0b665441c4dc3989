#include "lab/lab.hpp"

#include "core/log.hpp"
#include "lab/process.hpp"
#include "lab/system.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;

namespace rs::lab {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 30s;

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
constexpr auto kStopTimeout = 30s;

struct Tool {
  const char* name;
  const char* package;
};
constexpr Tool kTools[] = {
    {"ip", "iproute2"},          {"systemd-nspawn", "systemd-container"}, {"nsenter", "util-linux"},
    {"ssh-keygen", "openssh-client"}, {"ssh", "openssh-client"},
};

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buffer;
}

Result<void> ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_checked(argv, kCommandTimeout);
  if (!r) return r.error();
  return ok();
}

Result<void> write_text(const std::string& path, const std::string& content, unsigned mode = 0644) {
  return write_file_atomic(path, content, mode);
}

// Single-quoted for /bin/sh, for the wrapper scripts the lab writes.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string ssh_quote(const std::string& s) { return s.find(' ') == std::string::npos ? s : "\"" + s + "\""; }

Result<void> set_ip_forward(const std::string& netns, bool on) {
  return in_netns(netns, [on]() -> Result<void> {
    std::ofstream f("/proc/sys/net/ipv4/ip_forward");
    f << (on ? "1\n" : "0\n");
    f.flush();
    if (!f) return make_error(Errc::io, "write /proc/sys/net/ipv4/ip_forward");
    return ok();
  });
}

// --- network --------------------------------------------------------------------------

Result<void> create_network(const LabPlan& plan, LabState& state, const LabPaths& paths) {
  for (const auto& ns : plan.all_netns()) {
    if (auto r = ip({"netns", "add", ns}); !r) return r;
    state.netns.push_back(ns);
    if (auto r = write_state(paths, state); !r) return r;
    // A new namespace inherits the machine's IPv4 settings: start every lab host at 0.
    if (auto r = set_ip_forward(ns, false); !r) return r.error().with_context("namespace '" + ns + "'");
    if (auto r = ip({"-n", ns, "link", "set", "lo", "up"}); !r) return r;
  }
  const std::string& sw = plan.switch_netns;
  if (auto r = ip({"-n", sw, "link", "add", kBridge, "type", "bridge"}); !r) return r;
  if (auto r = ip({"-n", sw, "link", "set", kBridge, "up"}); !r) return r;

  // One veth pair per host: the port end stays in the switch, eth0 goes straight into the
  // host's namespace (nothing is ever created in the machine's namespace).
  auto attach = [&](const std::string& port, const std::string& netns, const std::string& cidr,
                    const std::vector<std::string>& routes) -> Result<void> {
    if (auto r = ip({"-n", sw, "link", "add", port, "type", "veth", "peer", "name", kNodeInterface, "netns", netns});
        !r)
      return r;
    if (auto r = ip({"-n", sw, "link", "set", port, "master", kBridge, "up"}); !r) return r;
    if (auto r = ip({"-n", netns, "addr", "add", cidr, "dev", kNodeInterface}); !r) return r;
    if (auto r = ip({"-n", netns, "link", "set", kNodeInterface, "up"}); !r) return r;
    for (const auto& subnet : routes)
      if (auto r = ip({"-n", netns, "route", "add", subnet, "dev", kNodeInterface, "scope", "link"}); !r) return r;
    return ok();
  };
  if (auto r = attach(kControllerPort, plan.controller_netns, plan.controller_cidr, plan.controller_routes); !r)
    return r;
  for (const auto& node : plan.nodes)
    if (auto r = attach(node.switch_port, node.netns, node.cidr, node.routes); !r) return r;
  return ok();
}

// --- files -----------------------------------------------------------------------------

Result<std::string> read_public_key(const std::string& path) {
  auto text = read_file(path, 16384);
  if (!text) return text.error();
  std::string key = *text;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  return key;
}

// Host key, hostname, hosts, resolver, authorized_keys, docker options: written into the
// node's overlay before it boots. Returns the node's public host key.
Result<std::string> prepare_node_files(const LabPlan& plan, const NodePlan& node, const LabPaths& paths,
                                       const std::string& lab_public_key, const UpOptions& options) {
  const std::string root = paths.node_root(node.host);
  if (auto r = write_text(root + "/etc/hostname", node.host + "\n"); !r) return r.error();
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const auto& n : plan.nodes) hosts += n.address + "\t" + n.host + "\n";
  if (auto r = write_text(root + "/etc/hosts", hosts); !r) return r.error();
  // No resolver: nothing in a node can look up (or reach) a name outside the lab.
  if (auto r = write_text(root + "/etc/resolv.conf", ""); !r) return r.error();
  if (auto r = make_dirs(root + "/root/.ssh", 0700); !r) return r.error();
  chmod((root + "/root/.ssh").c_str(), 0700);
  if (auto r = write_text(root + "/root/.ssh/authorized_keys", lab_public_key + "\n", 0600); !r) return r.error();
  if (!options.docker_opts.empty()) {
    std::string opts = options.docker_opts;
    for (char& c : opts)
      if (c == '"' || c == '\n' || c == '\\') c = ' ';
    if (auto r = write_text(root + "/etc/default/docker",
                            "# Written by registry-setup lab\nDOCKER_OPTS=\"" + opts + "\"\n");
        !r)
      return r.error();
  }
  const std::string host_key = root + "/etc/ssh/ssh_host_ed25519_key";
  std::remove(host_key.c_str());
  std::remove((host_key + ".pub").c_str());
  auto r = run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + node.host, "-f", host_key},
                       kCommandTimeout);
  if (!r) return r.error();
  return read_public_key(host_key + ".pub");
}

Result<void> write_controller_files(const LabPlan& plan, const LabPaths& paths,
                                    const std::vector<std::string>& host_keys) {
  std::string known;
  for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
    // "type base64 comment" -> "host,address type base64"
    std::string key = host_keys[i];
    if (auto space = key.find(' '); space != std::string::npos)
      if (auto second = key.find(' ', space + 1); second != std::string::npos) key = key.substr(0, second);
    known += plan.nodes[i].host + "," + plan.nodes[i].address + " " + key + "\n";
  }
  if (auto r = write_text(paths.known_hosts(), known); !r) return r;

  std::string config = "# Written by registry-setup lab '" + plan.name +
                       "': its nodes, its key, its known hosts.\n";
  for (const auto& n : plan.nodes) config += "Host " + n.host + "\n  HostName " + n.address + "\n";
  config += "Host *\n"
            "  User root\n"
            "  IdentityFile " + ssh_quote(paths.key()) + "\n"
            "  IdentitiesOnly yes\n"
            "  UserKnownHostsFile " + ssh_quote(paths.known_hosts()) + "\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 10\n"
            "  LogLevel ERROR\n";
  if (auto r = write_text(paths.ssh_config(), config); !r) return r;

  for (const char* tool : {"ssh", "scp"}) {
    std::string real = find_program(tool);
    if (real.empty()) continue;
    std::string script = "#!/bin/sh\n# Written by registry-setup lab '" + plan.name + "': " + tool +
                         " with the lab's key and known hosts.\nexec " + sh_quote(real) + " -F " +
                         sh_quote(paths.ssh_config()) + " \"$@\"\n";
    if (auto r = write_text(paths.bin_dir() + "/" + tool, script, 0755); !r) return r;
  }

  std::string env = "# Written by registry-setup lab '" + plan.name + "'; `. " + paths.env_file() + "`\n";
  env += "RS_LAB_NAME=" + sh_quote(plan.name) + "\n";
  env += "RS_LAB_DIR=" + sh_quote(paths.dir) + "\n";
  env += "RS_LAB_SSH_CONFIG=" + sh_quote(paths.ssh_config()) + "\n";
  env += "RS_LAB_SSH_KEY=" + sh_quote(paths.key()) + "\n";
  env += "RS_LAB_KNOWN_HOSTS=" + sh_quote(paths.known_hosts()) + "\n";
  env += "RS_LAB_CONTROLLER=" + sh_quote(plan.controller_address) + "\n";
  return write_text(paths.env_file(), env);
}

// --- nodes -----------------------------------------------------------------------------

// A datagram socket systemd-nspawn reports to (NOTIFY_SOCKET): READY=1 once the node's
// systemd has finished booting (--notify-ready=yes).
class NotifySocket {
 public:
  static Result<NotifySocket> bind_at(const std::string& path) {
    NotifySocket s;
    s.fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s.fd_ < 0) return errno_error("socket", errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return make_error(Errc::invalid_argument, "socket path too long: " + path);
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    unlink(path.c_str());
    if (bind(s.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return errno_error("bind '" + path + "'", errno);
    s.path_ = path;
    return s;
  }
  NotifySocket() = default;
  NotifySocket(NotifySocket&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  NotifySocket& operator=(NotifySocket&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(path_, o.path_);
    return *this;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  // Reads pending messages; true once one said READY=1.
  bool drain_ready() {
    char buffer[4096];
    bool ready = false;
    for (;;) {
      ssize_t n = recv(fd_, buffer, sizeof buffer - 1, 0);
      if (n <= 0) break;
      buffer[n] = 0;
      std::string message(buffer, static_cast<std::size_t>(n));
      if (message.find("READY=1") != std::string::npos) ready = true;
    }
    return ready;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

std::vector<std::string> nspawn_argv(const NodePlan& node, const LabPaths& paths) {
  return {"systemd-nspawn",
          "--quiet",
          "--keep-unit",  // no host systemd/machined to register with
          "--register=no",
          "--boot",
          "--notify-ready=yes",
          "--directory=" + paths.node_root(node.host),
          "--machine=" + node.netns,
          "--hostname=" + node.host,
          "--network-namespace-path=/run/netns/" + node.netns,
          "--capability=all",               // dockerd's iptables
          "--system-call-filter=@keyring",  // runc
          "--console=read-only",
          "--resolv-conf=off",
          "--link-journal=no",
          // overlay2 refuses an overlayfs backing: docker's data lives on a plain directory.
          "--bind=" + paths.node_dir(node.host) + "/docker:/var/lib/docker"};
}

Result<std::string> tail_of(const std::string& path, std::size_t lines) {
  auto text = read_file(path, 1 << 20);
  if (!text) return text.error();
  // Drop the console's colour sequences (ESC [ ... m).
  std::string t;
  for (std::size_t i = 0; i < text->size(); ++i) {
    if ((*text)[i] == '\x1b' && i + 1 < text->size() && (*text)[i + 1] == '[') {
      auto m = text->find('m', i);
      if (m != std::string::npos && m - i < 16) {
        i = m;
        continue;
      }
    }
    t += (*text)[i];
  }
  std::size_t pos = t.size();
  for (std::size_t i = 0; i <= lines && pos > 0; ++i) {
    pos = t.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  return t.substr(pos);
}

// Cgroup v1 controllers are mounted read-only in a node; `docker run` needs them writable.
Result<void> remount_cgroups_rw(pid_t leader) {
  auto text = read_file("/proc/" + std::to_string(leader) + "/mountinfo", 1 << 20);
  if (!text) return text.error();
  for (const auto& m : parse_mountinfo(*text)) {
    if (m.mount_point.rfind("/sys/fs/cgroup", 0) != 0) continue;
    if (m.options.rfind("ro", 0) != 0 || (m.options.size() > 2 && m.options[2] != ',')) continue;
    auto r = run_checked({"nsenter", "-t", std::to_string(leader), "-m", "mount", "-o", "remount,bind,rw",
                          m.mount_point},
                         kCommandTimeout);
    if (!r) return r.error();
  }
  return ok();
}

// Waits for docker and sshd through systemd itself: `systemctl start` of an active unit
// returns at once, of a starting or restarting one when its job ends, and fails for a
// unit that cannot start. Then each must be active on its own (`is-active` of several
// units succeeds when any one is).
Result<void> check_services(const NodeState& node) {
  const std::string leader = std::to_string(node.leader_pid);
  auto started = run_command({"nsenter", "-t", leader, "-a", "systemctl", "start", "docker.service", "ssh.service"},
                             kCommandTimeout);
  if (!started) return started.error().with_context("node '" + node.host + "'");
  std::string inactive;
  for (const char* unit : {"docker.service", "ssh.service"}) {
    auto r = run_command({"nsenter", "-t", leader, "-a", "systemctl", "is-active", unit}, kCommandTimeout);
    if (!r) return r.error().with_context("node '" + node.host + "'");
    if (r->exit_code == 0) continue;
    std::string state = r->out;
    while (!state.empty() && state.back() == '\n') state.pop_back();
    auto journal = run_command({"nsenter", "-t", leader, "-a", "journalctl", "_SYSTEMD_UNIT=" + std::string(unit), "-n",
                                "3", "-o", "cat", "--no-pager"},
                               kCommandTimeout);
    std::string detail = journal ? journal->out : std::string();
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    inactive += "\n  " + std::string(unit) + " is " + (state.empty() ? "not active" : state) +
                (detail.empty() ? std::string() : "; its last log lines:\n" + detail);
  }
  if (!inactive.empty()) return make_error(Errc::unavailable, "node '" + node.host + "':" + inactive);
  return ok();
}

// Boots every node in parallel and waits for each READY=1.
Result<void> boot_nodes(const LabPlan& plan, LabState& state, const LabPaths& paths, const UpOptions& options,
                        const Progress& progress) {
  std::vector<NotifySocket> sockets;
  std::vector<int> pidfds;
  for (const auto& node : plan.nodes) {
    auto sock = NotifySocket::bind_at(paths.node_dir(node.host) + "/notify.sock");
    if (!sock) return sock.error().with_context("node '" + node.host + "'");
    std::map<std::string, std::string> env{{"SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network"},
                                           {"NOTIFY_SOCKET", paths.node_dir(node.host) + "/notify.sock"}};
    auto pid = spawn_detached(nspawn_argv(node, paths), env, paths.node_dir(node.host) + "/console.log");
    if (!pid) return pid.error().with_context("start node '" + node.host + "'");
    NodeState* ns = state.node(node.host);
    ns->nspawn_pid = *pid;
    ns->nspawn_start = process_start_time(*pid).value_or(0);
    if (auto r = write_state(paths, state); !r) return r;
    sockets.push_back(std::move(*sock));
    pidfds.push_back(static_cast<int>(syscall(SYS_pidfd_open, *pid, 0)));
  }
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds)
        if (fd >= 0) close(fd);
    }
  } closer{pidfds};

  auto start = std::chrono::steady_clock::now();
  auto deadline = start + options.boot_timeout;
  std::vector<bool> ready(plan.nodes.size(), false);
  std::size_t ready_count = 0;
  while (ready_count < plan.nodes.size()) {
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
      fds.push_back({ready[i] ? -1 : sockets[i].fd(), POLLIN, 0});
      fds.push_back({ready[i] ? -1 : pidfds[i], POLLIN, 0});
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::string waiting, consoles;
      for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
        if (ready[i]) continue;
        waiting += (waiting.empty() ? "" : ", ") + plan.nodes[i].host;
        if (auto tail = tail_of(paths.node_dir(plan.nodes[i].host) + "/console.log", 6); tail && !tail->empty())
          consoles += "\n--- console of " + plan.nodes[i].host + ", last lines:" + *tail;
      }
      return make_error(Errc::timeout, "nodes did not finish booting within " +
                                           std::to_string(options.boot_timeout.count()) + " s: " + waiting +
                                           " (--boot-timeout raises the limit)" + consoles);
    }
    int n = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (auto r = check_interrupted(); !r) return r;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("poll", errno);
    for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
      if (ready[i]) continue;
      if (fds[2 * i].revents && sockets[i].drain_ready()) {
        ready[i] = true;
        ++ready_count;
        progress("  " + plan.nodes[i].host + " " + plan.nodes[i].address + ": booted (" + seconds_since(start) + ")");
        continue;
      }
      if (fds[2 * i + 1].revents) {
        std::string log = paths.node_dir(plan.nodes[i].host) + "/console.log";
        auto tail = tail_of(log, 8);
        return make_error(Errc::unavailable, "node '" + plan.nodes[i].host + "': systemd-nspawn exited during boot" +
                                                 (tail ? "; its last lines:" + *tail : std::string()));
      }
    }
  }

  for (const auto& node : plan.nodes) {
    NodeState* ns = state.node(node.host);
    auto leader = find_container_leader(ns->nspawn_pid);
    if (!leader) return make_error(Errc::not_found, "node '" + node.host + "': its systemd (PID 1) was not found");
    ns->leader_pid = *leader;
    ns->leader_start = process_start_time(*leader).value_or(0);
    if (auto r = write_state(paths, state); !r) return r;
    if (auto r = remount_cgroups_rw(*leader); !r) return r.error().with_context("node '" + node.host + "'");
  }
  for (const auto& node : plan.nodes)
    if (auto r = check_services(*state.node(node.host)); !r) return r;
  return ok();
}

// The network namespaces on the machine named as this lab's.
std::vector<std::string> lab_netns_on_machine(const std::string& lab_name) {
  std::vector<std::string> out;
  std::error_code ec;
  const std::string dot = "rslab-" + lab_name + ".", underscore = "rslab-" + lab_name + "_";
  for (const auto& entry : fs::directory_iterator("/run/netns", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(dot, 0) == 0 || name.rfind(underscore, 0) == 0) out.push_back(name);
  }
  return out;
}

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
  for (auto it = state.netns.rbegin(); it != state.netns.rend(); ++it) {
    if (!netns_exists(*it)) continue;
    note(ip({"netns", "del", *it}));
  }
  // Also a namespace created just before an interrupted `up` could record it: the names
  // "rslab-NAME." and "rslab-NAME_" belong to this lab alone (lab names have no '.' or '_').
  for (const auto& ns : lab_netns_on_machine(state.name)) note(ip({"netns", "del", ns}));
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
  std::error_code ec;
  fs::remove_all(paths.dir, ec);  // leftovers of an interrupted run (nothing mounted, no state)

  for (const std::string& d : {paths.dir, paths.ssh_dir(), paths.bin_dir()})
    if (auto r = make_dirs(d, 0700); !r) return r.error();
  LabState state;
  state.name = plan.name;
  state.phase = "starting";
  state.inventory = options.inventory;
  state.rootfs = *rootfs;
  state.switch_netns = plan.switch_netns;
  state.controller_netns = plan.controller_netns;
  state.controller_address = plan.controller_address;
  state.created_at = static_cast<long long>(std::time(nullptr));
  for (const auto& n : plan.nodes) state.nodes.push_back(NodeState{n.host, n.address, n.netns, 0, 0, 0, 0, false});
  if (auto r = write_state(paths, state); !r) return r.error();

  InterruptScope interrupt_scope;
  auto attempt = [&]() -> Result<void> {
    progress("network: switch, controller " + plan.controller_address + ", " + std::to_string(plan.nodes.size()) +
             " node namespace(s) on " + [&] {
               std::string s;
               for (const auto& x : plan.subnets) s += (s.empty() ? "" : ", ") + x;
               return s;
             }());
    if (auto r = create_network(plan, state, paths); !r) return r.error().with_context("network");

    if (auto r = check_interrupted(); !r) return r;
    progress("keys: the lab's ssh key and a host key per node");
    auto keygen = run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "registry-setup-lab-" + plan.name,
                               "-f", paths.key()},
                              kCommandTimeout);
    if (!keygen) return keygen.error();
    auto lab_key = read_public_key(paths.key() + ".pub");
    if (!lab_key) return lab_key.error();

    if (auto r = check_interrupted(); !r) return r;
    progress("nodes: overlays on " + *rootfs);
    std::vector<std::string> host_keys;
    for (const auto& node : plan.nodes) {
      const std::string dir = paths.node_dir(node.host);
      for (const char* sub : {"upper", "work", "root", "docker"})
        if (auto r = make_dirs(dir + "/" + sub, 0755); !r) return r;
      if (auto r = mount_overlay(*rootfs, dir + "/upper", dir + "/work", dir + "/root"); !r) return r;
      state.node(node.host)->mounted = true;
      if (auto r = write_state(paths, state); !r) return r;
      auto host_key = prepare_node_files(plan, node, paths, *lab_key, options);
      if (!host_key) return host_key.error().with_context("node '" + node.host + "'");
      host_keys.push_back(*host_key);
    }
    if (auto r = write_controller_files(plan, paths, host_keys); !r) return r;

    if (auto r = check_interrupted(); !r) return r;
    progress("booting " + std::to_string(plan.nodes.size()) + " node(s): systemd, docker, sshd (systemd-nspawn)");
    if (auto r = boot_nodes(plan, state, paths, options, progress); !r) return r;
    if (auto r = check_interrupted(); !r) return r;
    state.phase = "up";
    return write_state(paths, state);
  };

  if (auto r = attempt(); !r) {
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
