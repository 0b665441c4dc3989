#include "agent/host/become.hpp"

namespace rs::agent {
namespace {

using namespace std::chrono_literals;

bool has(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

}  // namespace

std::string explain_sudo_failure(const std::string& err, const std::string& host) {
  if (has(err, "not in the sudoers") || has(err, "may not run sudo") || has(err, "is not allowed to"))
    return "the ssh user may not use sudo on '" + host + "' (sudo: " + last_line(err) + ")";
  if (has(err, "incorrect password") || has(err, "Sorry, try again") || has(err, "no password was provided"))
    return "sudo on '" + host + "' refused ansible_become_password (wrong password)";
  if (has(err, "a password is required"))
    return "sudo on '" + host + "' asks for a password: set ansible_become_password (host_vars/" + host +
           ".yml, a vars file given with -e @FILE, or the inventory)";
  if (has(err, "a terminal is required") || has(err, "requiretty"))
    return "sudo on '" + host + "' wants a terminal (sudoers 'requiretty'): allow the ssh user without it";
  return {};
}

Result<std::unique_ptr<BecomeCommandRunner>> BecomeCommandRunner::open(std::unique_ptr<CommandRunner> inner,
                                                                        std::string user,
                                                                        std::optional<std::string> password,
                                                                        const std::string& host) {
  auto fail = [&](const std::string& err) {
    auto why = explain_sudo_failure(err, host);
    return make_error(Errc::permission_denied,
                      why.empty() ? "sudo -u " + user + " on '" + host + "' failed: " + last_line(err) : why);
  };
  // -k: cached credentials do not count, so success means no password is ever asked.
  auto probe = inner->run({"sudo", "-k", "-n", "-u", user, "--", "true"}, {}, 30s);
  if (!probe && probe.error().code == Errc::not_found)
    return make_error(Errc::unsupported, "ansible_become: sudo is not installed on '" + host + "'");
  if (!probe) return probe.error();
  if (probe->exit_code == 127)
    return make_error(Errc::unsupported, "ansible_become: sudo is not installed on '" + host + "'");
  if (probe->exit_code == 0)
    return std::unique_ptr<BecomeCommandRunner>(new BecomeCommandRunner(std::move(inner), std::move(user), std::nullopt, host));
  if (!has(probe->err, "a password is required") || !password) return fail(probe->err);

  BecomeCommandRunner runner(std::move(inner), std::move(user), std::move(password), host);
  auto with_password = runner.run({"true"}, {}, 30s);
  if (!with_password) return with_password.error();
  if (with_password->exit_code != 0) return fail(with_password->err);
  return std::unique_ptr<BecomeCommandRunner>(new BecomeCommandRunner(std::move(runner)));
}

std::vector<std::string> BecomeCommandRunner::wrap(const std::vector<std::string>& argv) const {
  // -H: HOME is the target user's (docker login writes ~/.docker/config.json).
  std::vector<std::string> out = password_ ? std::vector<std::string>{"sudo", "-k", "-S", "-p", "", "-H", "-u", user_, "--"}
                                           : std::vector<std::string>{"sudo", "-n", "-H", "-u", user_, "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Result<CommandResult> BecomeCommandRunner::run(const std::vector<std::string>& argv, const std::string& input,
                                               std::chrono::milliseconds timeout) {
  auto r = inner_->run(wrap(argv), password_ ? *password_ + "\n" + input : input, timeout);
  if (!r) return r;
  // sudo's own refusal (exit 1 before the command ran), not the command's failure.
  if (r->exit_code == 1 && r->err.starts_with("sudo: "))
    if (auto why = explain_sudo_failure(r->err, host_); !why.empty()) return make_error(Errc::permission_denied, why);
  return r;
}

}  // namespace rs::agent
