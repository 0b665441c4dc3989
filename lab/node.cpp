#include "lab/node.hpp"

#include "core/fd.hpp"
#include "lab/process.hpp"
#include "lab/system.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>

namespace rs::lab {
namespace {

using namespace std::chrono_literals;

// A datagram socket systemd-nspawn reports to (NOTIFY_SOCKET): READY=1 once the node's
// systemd has finished booting (--notify-ready=yes).
class NotifySocket {
 public:
  static Result<NotifySocket> bind_at(const std::string& path) {
    NotifySocket s;
    s.fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s.fd_) return errno_error("socket", errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return make_error(Errc::invalid_argument, "socket path too long: " + path);
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    unlink(path.c_str());
    if (bind(s.fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return errno_error("bind '" + path + "'", errno);
    s.path_ = path;
    return s;
  }
  NotifySocket() = default;
  NotifySocket(NotifySocket&& o) noexcept : fd_(std::move(o.fd_)), path_(std::exchange(o.path_, {})) {}
  NotifySocket& operator=(NotifySocket&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(path_, o.path_);
    return *this;
  }
  ~NotifySocket() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  int fd() const { return fd_.get(); }
  // Reads pending messages; true once one said READY=1.
  bool drain_ready() {
    char buffer[4096];
    bool ready = false;
    for (;;) {
      ssize_t n = recv(fd_.get(), buffer, sizeof buffer - 1, 0);
      if (n <= 0) break;
      buffer[n] = 0;
      std::string message(buffer, static_cast<std::size_t>(n));
      if (message.find("READY=1") != std::string::npos) ready = true;
    }
    return ready;
  }

 private:
  Fd fd_;
  std::string path_;
};

Result<std::string> tail_of(const std::string& path, std::size_t lines) {
  auto text = read_file(path, 1 << 20);
  if (!text) return text.error();
  std::string t = strip_colours(*text);
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

// A node between its start and READY=1: where it reports, and how its nspawn's exit shows.
struct BootingNode {
  NotifySocket notify;
  Fd exit;  // pidfd of systemd-nspawn
  bool ready = false;
};

std::string console_log(const LabPaths& paths, const std::string& host) { return paths.node_dir(host) + "/console.log"; }

// Starts systemd-nspawn for every node, each PID recorded in the state as soon as known.
Result<std::vector<BootingNode>> start_nodes(const LabPlan& plan, LabState& state, const LabPaths& paths) {
  std::vector<BootingNode> booting;
  for (const auto& node : plan.nodes) {
    const std::string notify_path = paths.node_dir(node.host) + "/notify.sock";
    auto sock = NotifySocket::bind_at(notify_path);
    if (!sock) return sock.error().with_context("node '" + node.host + "'");
    std::map<std::string, std::string> env{{"SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network"},
                                           {"NOTIFY_SOCKET", notify_path}};
    auto pid = spawn_detached(nspawn_argv(node, paths), env, console_log(paths, node.host));
    if (!pid) return pid.error().with_context("start node '" + node.host + "'");
    NodeState* ns = state.node(node.host);
    ns->nspawn_pid = *pid;
    ns->nspawn_start = process_start_time(*pid).value_or(0);
    if (auto r = write_state(paths, state); !r) return r.error();
    booting.push_back(BootingNode{std::move(*sock), open_pidfd(*pid)});
  }
  return booting;
}

// The timeout error: which nodes are still booting, with the last lines of their consoles.
Error boot_timeout_error(const LabPlan& plan, const LabPaths& paths, const std::vector<BootingNode>& booting,
                         std::chrono::seconds boot_timeout) {
  std::string waiting, consoles;
  for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
    if (booting[i].ready) continue;
    const std::string& host = plan.nodes[i].host;
    waiting += (waiting.empty() ? "" : ", ") + host;
    if (auto tail = tail_of(console_log(paths, host), 6); tail && !tail->empty())
      consoles += "\n--- console of " + host + ", last lines:" + *tail;
  }
  return make_error(Errc::timeout, "nodes did not finish booting within " + std::to_string(boot_timeout.count()) +
                                       " s: " + waiting + " (--boot-timeout raises the limit)" + consoles);
}

// Waits for every node's READY=1; a node whose nspawn exits first fails the boot.
Result<void> wait_until_booted(const LabPlan& plan, const LabPaths& paths, std::vector<BootingNode>& booting,
                               std::chrono::seconds boot_timeout,
                               const std::function<void(const std::string&)>& progress,
                               const std::function<bool()>& interrupted) {
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + boot_timeout;
  std::size_t ready_count = 0;
  while (ready_count < plan.nodes.size()) {
    std::vector<pollfd> fds;
    for (const auto& b : booting) {
      fds.push_back({b.ready ? -1 : b.notify.fd(), POLLIN, 0});
      fds.push_back({b.ready ? -1 : b.exit.get(), POLLIN, 0});
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return boot_timeout_error(plan, paths, booting, boot_timeout);
    int n = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (interrupted()) return make_error(Errc::conflict, "interrupted");
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("poll", errno);
    for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
      auto& b = booting[i];
      const NodePlan& node = plan.nodes[i];
      if (b.ready) continue;
      if (fds[2 * i].revents && b.notify.drain_ready()) {
        b.ready = true;
        ++ready_count;
        progress("  " + node.host + " " + node.address + ": booted (" + seconds_since(start) + ")");
        continue;
      }
      if (fds[2 * i + 1].revents) {
        auto tail = tail_of(console_log(paths, node.host), 8);
        return make_error(Errc::unavailable, "node '" + node.host + "': systemd-nspawn exited during boot" +
                                                 (tail ? "; its last lines:" + *tail : std::string()));
      }
    }
  }
  return ok();
}

// Records a booted node's systemd (PID 1) and makes its cgroups writable for `docker run`.
Result<void> adopt_leader(const NodePlan& node, LabState& state, const LabPaths& paths) {
  NodeState* ns = state.node(node.host);
  auto leader = find_container_leader(ns->nspawn_pid);
  if (!leader) return make_error(Errc::not_found, "node '" + node.host + "': its systemd (PID 1) was not found");
  ns->leader_pid = *leader;
  ns->leader_start = process_start_time(*leader).value_or(0);
  if (auto r = write_state(paths, state); !r) return r;
  if (auto r = remount_cgroups_rw(*leader); !r) return r.error().with_context("node '" + node.host + "'");
  return ok();
}

}  // namespace

std::string strip_colours(const std::string& text) {
  std::string t;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      auto m = text.find('m', i);
      if (m != std::string::npos && m - i < 16) {
        i = m;
        continue;
      }
    }
    t += text[i];
  }
  return t;
}

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

Result<void> boot_nodes(const LabPlan& plan, LabState& state, const LabPaths& paths,
                        std::chrono::seconds boot_timeout, const std::function<void(const std::string&)>& progress,
                        const std::function<bool()>& interrupted) {
  auto booting = start_nodes(plan, state, paths);
  if (!booting) return booting.error();
  if (auto r = wait_until_booted(plan, paths, *booting, boot_timeout, progress, interrupted); !r) return r;
  for (const auto& node : plan.nodes)
    if (auto r = adopt_leader(node, state, paths); !r) return r;
  for (const auto& node : plan.nodes)
    if (auto r = check_services(*state.node(node.host)); !r) return r;
  return ok();
}

}  // namespace rs::lab
