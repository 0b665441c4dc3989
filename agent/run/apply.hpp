// `apply`: validate inventory and playbook, then run every selected host (in parallel,
// --forks at a time), print task lines and a recap (or one JSON document), exit code.
#pragma once

#include "agent/host/connector.hpp"
#include "agent/run/run_input.hpp"

#include <ostream>
#include <string>

namespace rs::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;
inline constexpr int kExitHostFailed = 2;
inline constexpr int kExitUnreachable = 4;

struct ApplyOptions : HostsOptions {
  bool check = false;  // report what would change, change nothing
  bool diff = false;   // show each change
};

// Returns the exit code: 0 ok, 1 invalid input, 4 a host unreachable, else 2 a host failed.
int run_apply(const ApplyOptions& options, Connector& connector, std::ostream& out, std::ostream& err);

}  // namespace rs::agent
