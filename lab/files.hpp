// The files a lab writes: into each node's overlay before it boots (hostname, hosts, an
// empty resolv.conf, authorized_keys, a host key, docker's options) and for the controller
// (known_hosts, ssh config, ssh/scp wrappers, env). The text of each is a pure function.
#pragma once

#include "core/result.hpp"
#include "lab/plan.hpp"
#include "lab/state.hpp"

#include <string>
#include <vector>

namespace rs::lab {

std::string hosts_text(const LabPlan& plan);
// /etc/default/docker with DOCKER_OPTS (quotes and shell-active characters blanked).
std::string docker_defaults_text(const std::string& docker_opts);
// One line per node, "host,address type key", from the nodes' public host keys.
std::string known_hosts_text(const LabPlan& plan, const std::vector<std::string>& host_keys);
// `Host NAME / HostName ADDRESS` per node, then the lab's key, known hosts, strict checking.
std::string ssh_config_text(const LabPlan& plan, const LabPaths& paths);
// A /bin/sh script exec'ing the real tool with -F config.
std::string ssh_wrapper_text(const std::string& lab_name, const std::string& tool, const std::string& real_path,
                             const std::string& config_path);
// RS_LAB_* as shell assignments.
std::string env_text(const LabPlan& plan, const LabPaths& paths);

Result<std::string> read_public_key(const std::string& path);
// Writes a node's files into its mounted overlay; returns its public host key.
Result<std::string> prepare_node_files(const LabPlan& plan, const NodePlan& node, const LabPaths& paths,
                                       const std::string& lab_public_key, const std::string& docker_opts);
Result<void> write_controller_files(const LabPlan& plan, const LabPaths& paths,
                                    const std::vector<std::string>& host_keys);

}  // namespace rs::lab
