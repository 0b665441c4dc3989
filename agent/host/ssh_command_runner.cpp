#include "agent/host/ssh_command_runner.hpp"

#include "agent/host/debug_log.hpp"

namespace rs::agent {

std::vector<std::string> ssh_argv(const SshTarget& t) {
  std::vector<std::string> argv = {"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o",
                                   "ServerAliveInterval=15", "-o", "ServerAliveCountMax=2"};
  if (!t.control_dir.empty()) {
    for (const auto& o : {"ControlMaster=auto", "ControlPersist=120"}) {
      argv.push_back("-o");
      argv.push_back(o);
    }
    argv.push_back("-o");
    argv.push_back("ControlPath=" + t.control_dir + "/%C");
  }
  if (t.port != 22) {
    argv.push_back("-p");
    argv.push_back(std::to_string(t.port));
  }
  if (!t.private_key_file.empty()) {
    argv.push_back("-i");
    argv.push_back(t.private_key_file);
  }
  if (!t.user.empty()) {
    argv.push_back("-l");
    argv.push_back(t.user);
  }
  argv.insert(argv.end(), t.common_args.begin(), t.common_args.end());
  argv.push_back("--");
  argv.push_back(t.host);
  return argv;
}

Result<CommandResult> SshCommandRunner::run(const std::vector<std::string>& argv, const std::string& input,
                                            std::chrono::milliseconds timeout) {
  auto full = ssh_argv(target_);
  // ssh hands the remote shell one string: each word quoted, so argv stays argv.
  full.push_back(shell_join(argv));
  // -vv shows every remote command.
  debug_log("ssh '" + target_.host + "': " + full.back());
  auto r = local_.run(full, input, timeout);
  if (!r) return r.error().with_context("ssh '" + target_.host + "'");
  if (r->exit_code == 255) {
    auto err = r->err.substr(0, r->err.find_last_not_of("\r\n") + 1);
    return make_error(Errc::unavailable, "ssh '" + target_.host + "': " + (err.empty() ? "connection failed" : err));
  }
  return r;
}

void SshCommandRunner::close() {
  if (target_.control_dir.empty()) return;
  auto argv = ssh_argv(target_);
  argv.insert(argv.end() - 2, {"-O", "exit"});
  (void)local_.run(argv, {}, std::chrono::seconds(10));
}

}  // namespace rs::agent
