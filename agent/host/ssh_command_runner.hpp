// Runs commands on a remote host through the system ssh client: BatchMode (never a
// prompt), one master connection per host reused by every command (ControlMaster).
#pragma once

#include "agent/host/command_runner.hpp"

#include <string>
#include <vector>

namespace rs::agent {

struct SshTarget {
  std::string host;  // address
  std::string user;
  int port = 22;
  std::string private_key_file;
  std::vector<std::string> common_args;
  std::string control_dir;  // where the master sockets live; empty = no reuse
};

// "ssh -o BatchMode=yes ... -- host": the command up to the destination.
std::vector<std::string> ssh_argv(const SshTarget& target);

class SshCommandRunner : public CommandRunner {
 public:
  SshCommandRunner(CommandRunner& local, SshTarget target) : local_(local), target_(std::move(target)) {}

  // Exit 255 (ssh's own failure: unreachable, auth refused) is Errc::unavailable.
  Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input,
                            std::chrono::milliseconds timeout) override;
  // Closes the master connection, if any.
  void close();

 private:
  CommandRunner& local_;
  SshTarget target_;
};

}  // namespace rs::agent
