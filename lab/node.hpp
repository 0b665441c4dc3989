// Booting lab nodes: systemd-nspawn on each node's overlay, joined to its network
// namespace, with the flags measured in ../shared/notes/lab.md; then the node's systemd is
// found, its cgroup controllers made writable for `docker run`, docker and sshd checked.
#pragma once

#include "core/result.hpp"
#include "lab/plan.hpp"
#include "lab/state.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace rs::lab {

// The systemd-nspawn command line of a node (environment: SYSTEMD_NSPAWN_API_VFS_WRITABLE=
// network, so that only /proc/sys/net is writable, and NOTIFY_SOCKET).
std::vector<std::string> nspawn_argv(const NodePlan& node, const LabPaths& paths);

// Starts every node in parallel, records each nspawn and systemd PID in `state` as soon as
// known, waits for each READY=1 (the node's systemd finished booting) up to boot_timeout,
// then makes the cgroup controllers writable and waits for docker.service and ssh.service.
Result<void> boot_nodes(const LabPlan& plan, LabState& state, const LabPaths& paths,
                        std::chrono::seconds boot_timeout, const std::function<void(const std::string&)>& progress,
                        const std::function<bool()>& interrupted);

// Text without ESC[...m colour sequences (a node's console is coloured).
std::string strip_colours(const std::string& text);

}  // namespace rs::lab
