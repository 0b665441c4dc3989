// Read-only looks at a host that the modules' facts share: a tool run on the host, GET
// /v2/ from the host, and the words of a tool's output worth showing.
#pragma once

#include "agent/host/host_context.hpp"
#include "agent/modules/fact.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace rs::agent {

// Runs a tool on the host; a tool that is not there is an error naming it and the host.
Result<CommandResult> run_tool(HostContext& host, const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                               const std::string& input = {});

// GET http://REGISTRY/v2/ run on the host itself (its network, its routes); https:// when
// `ca_path` (a file on that host) names the CA to trust.
Result<Observation> get_v2_from(HostContext& host, const std::string& registry, const std::string& ca_path = {});

// A file of the control machine that must exist (`what` names it in errors).
Result<std::string> control_file(const ControlMachine& control, const std::string& path, const std::string& what);

// A secret kept in a file of the control machine: its first line, which must not be
// empty (`what` names it in errors: "password_file of user 'ci'").
Result<std::string> control_secret(const ControlMachine& control, const std::string& path, const std::string& what);


// "a, b, c".
std::string join_list(const std::vector<std::string>& items);

}  // namespace rs::agent
