#include "lab/process.hpp"

#include "core/log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace rs::lab {
namespace {

constexpr std::size_t kOutputLimit = 1 << 20;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> to_c_argv(const std::vector<std::string>& argv, const std::string& program) {
  std::vector<char*> out;
  out.push_back(const_cast<char*>(program.c_str()));
  for (std::size_t i = 1; i < argv.size(); ++i) out.push_back(const_cast<char*>(argv[i].c_str()));
  out.push_back(nullptr);
  return out;
}

// Closes every descriptor above stderr in a forked child.
void close_other_fds() {
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; ++fd) close(fd);
}

// 'text', built by appending (g++ 12 -O3 warns falsely on "'" + std::string&&).
std::string quote(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

}  // namespace

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : std::string();
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin:/usr/local/sbin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return {};
}

std::string describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

Result<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                  const std::string& input) {
  if (argv.empty()) return make_error(Errc::invalid_argument, "empty command");
  std::string program = find_program(argv[0]);
  if (program.empty()) return make_error(Errc::not_found, "'" + argv[0] + "' is not installed (not found in PATH)");
  rs::log::get("lab")->debug("run: {}", describe(argv));

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  auto c_argv = to_c_argv(argv, program);

  pid_t pid = fork();
  if (pid < 0) return errno_error("fork", errno);
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close_other_fds();
    execv(program.c_str(), c_argv.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Feed stdin in one go (inputs here are small: keys, config files), then close it.
  if (!input.empty()) {
    signal(SIGPIPE, SIG_IGN);
    std::size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(in_pipe[1], input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
  close(in_pipe[1]);

  CommandResult result;
  std::string* sinks[2] = {&result.out, &result.err};
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  int open_count = 2;
  char buffer[8192];
  while (open_count > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else if (sinks[i]->size() < kOutputLimit) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return make_error(Errc::timeout, quote(describe(argv)) + " did not finish within " +
                                         std::to_string(timeout.count() / 1000) + " s");
  result.exit_code = decode_status(status);
  if (result.exit_code == 127 && result.out.empty() && result.err.empty())
    return make_error(Errc::not_found, "could not run '" + program + "'");
  return result;
}

Result<CommandResult> run_checked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                  const std::string& input) {
  auto r = run_command(argv, timeout, input);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    std::string err = r->err.empty() ? r->out : r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return make_error(Errc::io, quote(describe(argv)) + " exited with " + std::to_string(r->exit_code) +
                                    (err.empty() ? std::string() : ": " + err));
  }
  return r;
}

Result<int> run_attached(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) return make_error(Errc::invalid_argument, "empty command");
  std::string program = find_program(argv[0]);
  if (program.empty()) return make_error(Errc::not_found, "'" + argv[0] + "' is not installed (not found in PATH)");
  auto c_argv = to_c_argv(argv, program);
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return errno_error("fork", errno);
  if (pid == 0) {
    close_other_fds();
    execv(program.c_str(), c_argv.data());
    _exit(127);
  }
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  bool timed_out = false;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      int n = poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0) break;
      if (n < 0 && errno != EINTR) break;
    }
    close(pidfd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return make_error(Errc::timeout, quote(describe(argv)) + " did not finish in time");
  return decode_status(status);
}

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                             const std::string& log_path) {
  if (argv.empty()) return make_error(Errc::invalid_argument, "empty command");
  std::string program = find_program(argv[0]);
  if (program.empty()) return make_error(Errc::not_found, "'" + argv[0] + "' is not installed (not found in PATH)");
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return errno_error("open '" + log_path + "'", errno);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    close(log_fd);
    return errno_error("open '/dev/null'", errno);
  }
  rs::log::get("lab")->debug("start: {} (output in {})", describe(argv), log_path);
  auto c_argv = to_c_argv(argv, program);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);

  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    close(null_fd);
    return errno_error("fork", errno);
  }
  if (pid == 0) {
    setsid();
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close_other_fds();
    for (const auto& e : env_strings) putenv(const_cast<char*>(e.c_str()));
    signal(SIGPIPE, SIG_DFL);
    execv(program.c_str(), c_argv.data());
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  return pid;
}

}  // namespace rs::lab
