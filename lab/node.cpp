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
  std::vector<NotifySocket> sockets;
  std::vector<Fd> pidfds;
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
    pidfds.push_back(open_pidfd(*pid));
  }
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + boot_timeout;
  std::vector<bool> ready(plan.nodes.size(), false);
  std::size_t ready_count = 0;
  while (ready_count < plan.nodes.size()) {
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i < plan.nodes.size(); ++i) {
      fds.push_back({ready[i] ? -1 : sockets[i].fd(), POLLIN, 0});
      fds.push_back({ready[i] ? -1 : pidfds[i].get(), POLLIN, 0});
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
                                           std::to_string(boot_timeout.count()) + " s: " + waiting +
                                           " (--boot-timeout raises the limit)" + consoles);
    }
    int n = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (interrupted()) return make_error(Errc::conflict, "interrupted");
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

}  // namespace rs::lab
