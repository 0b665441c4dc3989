#include "agent/host/ssh_command_runner.hpp"

#include "agent/host/debug_log.hpp"

#include <thread>

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

bool ssh_failed_before_command(const std::string& err) {
  // Permanent refusals are not retried: another try gets the same answer.
  for (const char* permanent : {"Permission denied", "Host key verification failed", "REMOTE HOST IDENTIFICATION",
                                "Could not resolve hostname", "No route to host", "Bad configuration option",
                                "no such identity", "Too many authentication failures"})
    if (err.find(permanent) != std::string::npos) return false;
  if (err.find_first_not_of(" \r\n") == std::string::npos) return true;  // dropped before a word was said
  for (const char* transient : {"Connection closed by", "Connection reset by", "connection reset", "Connection refused",
                                "kex_exchange_identification", "ssh_exchange_identification",
                                "banner exchange", "mux_client", "Control socket", "ControlSocket", "Broken pipe",
                                "Session open refused", "administratively prohibited"})
    if (err.find(transient) != std::string::npos) return true;
  return false;
}

Result<CommandResult> SshCommandRunner::run(const std::vector<std::string>& argv, const std::string& input,
                                            std::chrono::milliseconds timeout) {
  auto full = ssh_argv(target_);
  // ssh hands the remote shell one string: each word quoted, so argv stays argv.
  full.push_back(shell_join(argv));
  // -vv shows every remote command.
  debug_log("ssh '" + target_.host + "': " + full.back());
  // A connection dropped before the remote command ran (sshd's MaxStartups throttling a burst
  // of new connections, a master socket still starting) is tried again with backoff; the
  // command never started, so nothing runs twice.
  std::chrono::milliseconds backoff = retry_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    auto r = local_.run(full, input, timeout);
    if (!r) return r.error().with_context("ssh '" + target_.host + "'");
    if (r->exit_code != 255) return r;
    auto err = r->err.substr(0, r->err.find_last_not_of("\r\n") + 1);
    if (attempt < retry_.attempts && ssh_failed_before_command(err)) {
      debug_log("ssh '" + target_.host + "': attempt " + std::to_string(attempt) + " failed (" +
                (err.empty() ? std::string("no message") : err) + "), again in " + std::to_string(backoff.count()) + " ms");
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
      continue;
    }
    std::string tries = attempt > 1 ? " (" + std::to_string(attempt) + " attempts)" : "";
    return make_error(Errc::unavailable, "ssh '" + target_.host + "': " +
                                             (err.empty() ? "connection closed before the command ran, ssh said nothing"
                                                          : err) +
                                             tries);
  }
}

void SshCommandRunner::close() {
  if (target_.control_dir.empty()) return;
  auto argv = ssh_argv(target_);
  argv.insert(argv.end() - 2, {"-O", "exit"});
  (void)local_.run(argv, {}, std::chrono::seconds(10));
}

}  // namespace rs::agent
