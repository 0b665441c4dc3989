#include "lab/process.hpp"

#include "core/fd.hpp"
#include "core/log.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstdio>

namespace rs::lab {
namespace {

constexpr std::size_t kOutputLimit = 1 << 20;

}  // namespace

Result<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                  const std::string& input) {
  rs::log::get("lab")->debug("run: {}", describe(argv));
  RunOptions options;
  options.input = input;
  options.timeout = timeout;
  options.output_limit = kOutputLimit;
  return run_process(argv, options);
}

Result<CommandResult> run_checked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                  const std::string& input) {
  auto r = run_command(argv, timeout, input);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    std::string err = r->err.empty() ? r->out : r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return make_error(Errc::io, quoted_command(argv) + " exited with " + std::to_string(r->exit_code) +
                                    (err.empty() ? std::string() : ": " + err));
  }
  return r;
}

Result<int> run_attached(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  // What this process printed so far comes before what the child prints.
  std::fflush(stdout);
  auto child = spawn(argv);
  if (!child) return child.error();
  if (auto code = child->wait_for(timeout)) return *code;
  child->kill_and_wait();
  return make_error(Errc::timeout, quoted_command(argv) + " did not finish in time");
}

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             const std::string& log_path) {
  Fd log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log_fd) return errno_error("open '" + log_path + "'", errno);
  Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return errno_error("open '/dev/null'", errno);
  rs::log::get("lab")->debug("start: {} (output in {})", describe(argv), log_path);
  SpawnOptions options;
  options.stdin_fd = null_fd.get();
  options.stdout_fd = log_fd.get();
  options.stderr_fd = log_fd.get();
  options.env = env;
  options.new_session = true;
  auto child = spawn(argv, options);
  if (!child) return child.error();
  return child->release();
}

}  // namespace rs::lab
