// Runs commands on a remote host through the system ssh client: BatchMode (never a
// prompt), one master connection per host reused by every command (ControlMaster).
#pragma once

#include "agent/host/command_runner.hpp"

#include <chrono>
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

// ssh's exit 255 with this stderr: the connection failed before the remote command ran, and
// another try may succeed (not a refused key or an unknown host).
bool ssh_failed_before_command(const std::string& err);

struct SshRetry {
  int attempts = 4;  // in all
  std::chrono::milliseconds first_backoff{250};  // doubled after each try
};

class SshCommandRunner : public CommandRunner {
 public:
  SshCommandRunner(CommandRunner& local, SshTarget target, SshRetry retry = {})
      : local_(local), target_(std::move(target)), retry_(retry) {}

  // Exit 255 (ssh's own failure: unreachable, auth refused) is Errc::unavailable, after
  // retries when the connection failed before the command ran; the message is ssh's own.
  Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input,
                            std::chrono::milliseconds timeout) override;
  // Closes the master connection, if any.
  void close();

 private:
  CommandRunner& local_;
  SshTarget target_;
  SshRetry retry_;
};

}  // namespace rs::agent
