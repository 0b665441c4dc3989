#include "lab/system.hpp"

#include "core/fd.hpp"
#include "core/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace rs::lab {
namespace {

std::string unescape_octal(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (int k = 1; k <= 3; ++k) {
        char c = s[i + static_cast<std::size_t>(k)];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// Fields of /proc/PID/stat after the comm: (state ppid ... starttime is field 22).
bool read_stat(pid_t pid, std::string& comm, pid_t& ppid, unsigned long long& start) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!text) return false;
  auto open = text->find('(');
  auto close_paren = text->rfind(')');
  if (open == std::string::npos || close_paren == std::string::npos) return false;
  comm = text->substr(open + 1, close_paren - open - 1);
  std::istringstream rest(text->substr(close_paren + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  // fields[0] is field 3 (state); starttime is field 22 -> fields[19].
  if (fields.size() < 20) return false;
  ppid = static_cast<pid_t>(std::stol(fields[1]));
  start = std::stoull(fields[19]);
  return true;
}

}  // namespace

Result<std::string> read_file(const std::string& path, std::size_t limit) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    Error e = errno_error("read '" + path + "'", err);
    if (err == ENOENT) e.code = Errc::not_found;
    return e;
  }
  std::string out;
  char buffer[8192];
  while (out.size() < limit) {
    ssize_t n = read(fd.get(), buffer, std::min(sizeof buffer, limit - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read '" + path + "'", errno);
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<unsigned long long> process_start_time(pid_t pid) {
  std::string comm;
  pid_t ppid = 0;
  unsigned long long start = 0;
  if (pid <= 0 || !read_stat(pid, comm, ppid, start)) return std::nullopt;
  return start;
}

bool process_matches(pid_t pid, unsigned long long start) {
  auto now = process_start_time(pid);
  return now && *now == start;
}

std::optional<pid_t> find_container_leader(pid_t parent) {
  char own_ns[256] = {0};
  if (readlink("/proc/self/ns/pid", own_ns, sizeof own_ns - 1) < 0) return std::nullopt;
  DIR* dir = opendir("/proc");
  if (!dir) return std::nullopt;
  std::optional<pid_t> found;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    pid_t pid = static_cast<pid_t>(std::atol(entry->d_name));
    std::string comm;
    pid_t ppid = 0;
    unsigned long long start = 0;
    if (!read_stat(pid, comm, ppid, start) || ppid != parent || comm != "systemd") continue;
    char ns[256] = {0};
    std::string link = "/proc/" + std::to_string(pid) + "/ns/pid";
    if (readlink(link.c_str(), ns, sizeof ns - 1) < 0) continue;
    if (std::strcmp(ns, own_ns) != 0) {
      found = pid;
      break;
    }
  }
  closedir(dir);
  return found;
}

std::vector<pid_t> wait_for_exit(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  std::vector<Fd> exits;
  std::vector<pid_t> watched;
  for (pid_t pid : pids) {
    Fd fd = open_pidfd(pid);
    if (!fd) continue;  // already gone
    exits.push_back(std::move(fd));
    watched.push_back(pid);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<pollfd> fds;
    for (const auto& fd : exits)
      if (fd) fds.push_back({fd.get(), POLLIN, 0});
    if (fds.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int n = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (const auto& f : fds)
      if (f.revents)
        for (auto& fd : exits)
          if (fd.get() == f.fd) fd.reset();
  }
  std::vector<pid_t> alive;
  for (std::size_t i = 0; i < exits.size(); ++i)
    if (exits[i]) alive.push_back(watched[i]);
  return alive;
}

std::vector<MountEntry> parse_mountinfo(const std::string& text) {
  std::vector<MountEntry> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string word;
    while (fields >> word) f.push_back(word);
    if (f.size() < 7) continue;
    MountEntry e;
    e.mount_point = unescape_octal(f[4]);
    e.options = f[5];
    auto dash = std::find(f.begin() + 6, f.end(), "-");
    if (dash != f.end() && dash + 1 != f.end()) e.fs_type = *(dash + 1);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> mounts_under(const std::string& prefix) {
  std::vector<std::string> out;
  auto text = read_file("/proc/self/mountinfo", 16 << 20);
  if (!text) return out;
  for (const auto& m : parse_mountinfo(*text)) {
    if (m.mount_point == prefix || m.mount_point.rfind(prefix + "/", 0) == 0) out.push_back(m.mount_point);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<void> mount_overlay(const std::string& lower, const std::string& upper, const std::string& work,
                           const std::string& target) {
  std::string options = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
  if (mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0)
    return errno_error("mount overlay on '" + target + "'", errno);
  return ok();
}

Result<void> unmount(const std::string& target) {
  if (umount2(target.c_str(), 0) == 0) return ok();
  if (errno == EINVAL || errno == ENOENT) return ok();  // not mounted
  if (errno == EBUSY && umount2(target.c_str(), MNT_DETACH) == 0) return ok();
  return errno_error("unmount '" + target + "'", errno);
}

Result<void> in_netns(const std::string& netns, const std::function<Result<void>()>& fn) {
  Fd self(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self) return errno_error("open own network namespace", errno);
  std::string path = "/run/netns/" + netns;
  Fd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return errno_error("open network namespace '" + path + "'", errno);
  if (setns(target.get(), CLONE_NEWNET) != 0) return errno_error("enter network namespace '" + netns + "'", errno);
  auto result = fn();
  // Coming back cannot fail for a namespace we were in; if it does, continuing would act
  // on the wrong network: stop.
  if (setns(self.get(), CLONE_NEWNET) != 0) std::abort();
  return result;
}

bool netns_exists(const std::string& netns) {
  struct stat st {};
  return stat(("/run/netns/" + netns).c_str(), &st) == 0;
}

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buffer;
}

}  // namespace rs::lab
