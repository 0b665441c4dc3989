// Privilege escalation as Ansible's `become` (method sudo): each command runs as
// `sudo -u USER -- argv` on the host. How sudo may be used is asked once at connect:
// without a password (NOPASSWD), or with ansible_become_password, sent on sudo's stdin
// ahead of the command's own input (sudo reads its password line byte by byte, so the rest
// reaches the command); never in argv and never logged.
#pragma once

#include "agent/host/command_runner.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

// A hidden subcommand of the binary, `__prepend-stdin FILE CMD...`: CMD reads FILE's bytes,
// then this process's stdin. The systemd connection under a sudo password starts through it
// (sudo reads the password line, systemd-stdio-bridge the D-Bus stream after it); `cat`
// cannot serve, as ssh makes the socket it shares with sd-bus non-blocking (EAGAIN).
inline constexpr const char* kPrependStdin = "__prepend-stdin";

class BecomeCommandRunner : public CommandRunner {
 public:
  // Asks sudo on the host (through `inner`, which it keeps) whether and how `user` can be
  // become; the error names what is wrong: sudo missing, a password needed and none given,
  // a wrong password, or the login user not allowed to use sudo.
  static Result<std::unique_ptr<BecomeCommandRunner>> open(std::unique_ptr<CommandRunner> inner, std::string user,
                                                           std::optional<std::string> password,
                                                           const std::string& host);

  Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input,
                            std::chrono::milliseconds timeout) override;

  // `sudo ... -u USER --` and argv: what runs on the host.
  std::vector<std::string> wrap(const std::vector<std::string>& argv) const;
  // The password when sudo asks for one, else nullopt (NOPASSWD).
  const std::optional<std::string>& password() const { return password_; }
  CommandRunner& inner() { return *inner_; }

 private:
  BecomeCommandRunner(std::unique_ptr<CommandRunner> inner, std::string user, std::optional<std::string> password,
                      std::string host)
      : inner_(std::move(inner)), user_(std::move(user)), password_(std::move(password)), host_(std::move(host)) {}

  std::unique_ptr<CommandRunner> inner_;
  std::string user_;
  std::optional<std::string> password_;  // set only when sudo needs it
  std::string host_;                     // for messages
};

// What sudo's stderr says, as a sentence for the user; empty when nothing is recognised.
std::string explain_sudo_failure(const std::string& err, const std::string& host);

}  // namespace rs::agent
