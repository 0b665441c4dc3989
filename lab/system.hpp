// Thin wrappers over the kernel interfaces the lab uses directly: files, /proc, mounts,
// network namespaces, process exit. Each returns a Result; nothing here throws.
#pragma once

#include "core/atomic_file.hpp"
#include "core/result.hpp"

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace rs::lab {

// Reads at most `limit` bytes; Errc::not_found when the file does not exist.
Result<std::string> read_file(const std::string& path, std::size_t limit);
// Files are written with write_file_atomic and directories made with make_dirs
// (core/atomic_file.hpp).

// The start time (clock ticks since boot) of a process, or nullopt when it is gone.
std::optional<unsigned long long> process_start_time(pid_t pid);
// True when pid runs and is the same process that started at `start`.
bool process_matches(pid_t pid, unsigned long long start);
// The child of `parent` whose comm is `systemd` in another PID namespace: a node's PID 1.
std::optional<pid_t> find_container_leader(pid_t parent);
// Waits until every process has exited (pidfd + poll: the real exit event). Returns those
// still running when the timeout expires.
std::vector<pid_t> wait_for_exit(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout);

struct MountEntry {
  std::string mount_point;
  std::string options;  // per-mount options, e.g. "ro,nosuid,nodev"
  std::string fs_type;
};
// Parses /proc/PID/mountinfo text (octal escapes in paths decoded).
std::vector<MountEntry> parse_mountinfo(const std::string& text);
// Mount points of this mount namespace at or below `prefix`, deepest first.
std::vector<std::string> mounts_under(const std::string& prefix);

Result<void> mount_overlay(const std::string& lower, const std::string& upper, const std::string& work,
                           const std::string& target);
// Unmounts; falls back to a lazy unmount when the mount is busy.
Result<void> unmount(const std::string& target);

// Runs fn with this thread in the network namespace /run/netns/NAME, then returns.
Result<void> in_netns(const std::string& netns, const std::function<Result<void>()>& fn);
bool netns_exists(const std::string& netns);

// "1.3 s": the time since start, for progress lines.
std::string seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace rs::lab
