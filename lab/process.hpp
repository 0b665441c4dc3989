// The lab's commands on top of core/process.hpp: helper commands with the lab's limits and
// messages, commands attached to the terminal, and detached daemons logging to a file.
#pragma once

#include "core/process.hpp"
#include "core/result.hpp"

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace rs::lab {

// The bound on a helper command (ip, ssh-keygen, nsenter ... systemctl).
constexpr std::chrono::milliseconds kCommandTimeout{30000};

using CommandResult = ProcessResult;

// Runs argv[0] (searched in PATH, /usr/sbin and /sbin) and collects stdout and stderr
// (each capped at 1 MiB). Kills the child when the timeout expires and returns Errc::timeout.
// Returns an error only when the command could not run; a non-zero exit is a value.
Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                  const std::string& input = {});

// As run_command, and a non-zero exit becomes an Error quoting the command and its stderr.
Result<CommandResult> run_checked(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                  const std::string& input = {});

// Starts argv in a new session with stdin from /dev/null and stdout/stderr appended to
// log_path, with `env` added to this process's environment. The caller owns the PID.
Result<pid_t> spawn_detached(const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env,
                             const std::string& log_path);

// Runs argv with this process's stdin, stdout and stderr and waits (killing it after the
// timeout). Returns its exit code.
Result<int> run_attached(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace rs::lab
