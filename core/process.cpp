#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace rs {
namespace {

using Clock = std::chrono::steady_clock;

// Without a pidfd the exit is noticed by looking again at this interval.
constexpr std::chrono::milliseconds kExitCheckInterval{20};

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// "30 s", or "200 ms" for a timeout that is no whole number of seconds.
std::string format_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() % 1000 == 0) return std::to_string(timeout.count() / 1000) + " s";
  return std::to_string(timeout.count()) + " ms";
}

// 'text', built by appending (g++ 12 -O3 warns falsely on "'" + std::string&&).
std::string quoted(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

struct Pipe {
  Fd read_end;
  Fd write_end;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// This process's environment with `overrides` set, as "KEY=value" strings.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    if (!overrides.count(entry.substr(0, entry.find('=')))) out.push_back(std::move(entry));
  }
  for (const auto& [key, value] : overrides) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// posix_spawn's attribute and file-action objects, destroyed with the scope.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// What the child inherits: the three standard streams only, no blocked signal, SIGPIPE
// at its default (an ignored SIGPIPE survives exec and would break the child's pipelines).
int configure(SpawnSetup& setup, const SpawnOptions& options) {
  const int wanted[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  for (int target = 0; target < 3; ++target)
    if (wanted[target] >= 0)
      if (int rc = posix_spawn_file_actions_adddup2(&setup.actions, wanted[target], target)) return rc;
  if (int rc = posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3)) return rc;
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  if (int rc = posix_spawnattr_setsigmask(&setup.attr, &none)) return rc;
  if (int rc = posix_spawnattr_setsigdefault(&setup.attr, &pipe_only)) return rc;
  return posix_spawnattr_setflags(&setup.attr, flags);
}

// write(2) to a pipe whose reader may be gone: EPIPE comes back as an error, and the
// SIGPIPE it raises is taken from this thread instead of ending the process.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only, old, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigpending(&pending);
  const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n = ::write(fd, data, size);
  const int err = errno;
  if (n < 0 && err == EPIPE && !already_pending) {
    const timespec no_wait{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

// The parent's side of a running command: output collected, input fed, exit awaited.
class Session {
 public:
  Session(Child child, Fd in, Fd out, Fd err, const RunOptions& options)
      : child_(std::move(child)), in_(std::move(in)), options_(options) {
    streams_[0].fd = std::move(out);
    streams_[1].fd = std::move(err);
    if (options_.input.empty()) in_.reset();
    // Non-blocking stdin: a child that reads slowly must not stop its output being read.
    if (in_) ::fcntl(in_.get(), F_SETFL, ::fcntl(in_.get(), F_GETFL) | O_NONBLOCK);
  }

  // Runs until the child has exited and closed both outputs, or until the deadline.
  // False on timeout (the child is then killed).
  bool run(Clock::time_point deadline) {
    while (!done()) {
      if (Clock::now() >= deadline) {
        child_.kill_and_wait();
        return false;
      }
      poll_once(millis_until(deadline));
    }
    return true;
  }

  ProcessResult result() {
    return ProcessResult{exit_code_.value_or(-1), std::move(streams_[0].text), std::move(streams_[1].text)};
  }

 private:
  struct Stream {
    Fd fd;
    std::string text;
  };

  bool done() const { return exit_code_ && !streams_[0].fd && !streams_[1].fd; }

  // One poll over the open pipes and the exit, then whatever became ready is served.
  void poll_once(int timeout_ms) {
    pollfd fds[4];
    nfds_t count = 0;
    for (auto& s : streams_)
      if (s.fd) fds[count++] = {s.fd.get(), POLLIN, 0};
    if (in_) fds[count++] = {in_.get(), POLLOUT, 0};
    const bool watch_exit = !exit_code_ && child_.exit_fd() >= 0;
    if (watch_exit) fds[count++] = {child_.exit_fd(), POLLIN, 0};
    if (!exit_code_ && !watch_exit) timeout_ms = std::min<int>(timeout_ms, kExitCheckInterval.count());
    int n = ::poll(fds, count, timeout_ms);
    if (n < 0) return;  // EINTR: the caller looks at the deadline and comes back
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == child_.exit_fd()) continue;
      if (in_ && fds[i].fd == in_.get()) feed_input();
      for (auto& s : streams_)
        if (s.fd && fds[i].fd == s.fd.get()) read_from(s);
    }
    if (!exit_code_) exit_code_ = child_.try_wait();
  }

  void read_from(Stream& s) {
    char buffer[65536];
    ssize_t n = ::read(s.fd.get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      s.fd.reset();
      return;
    }
    const std::size_t room = options_.output_limit - std::min(options_.output_limit, s.text.size());
    s.text.append(buffer, std::min(room, static_cast<std::size_t>(n)));
  }

  void feed_input() {
    const std::string& input = options_.input;
    ssize_t n = write_without_sigpipe(in_.get(), input.data() + fed_, input.size() - fed_);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    // A child that stops reading (EPIPE) gets no more; its exit code tells the rest.
    if (n < 0) {
      in_.reset();
      return;
    }
    fed_ += static_cast<std::size_t>(n);
    if (fed_ == input.size()) in_.reset();
  }

  Child child_;
  Fd in_;
  Stream streams_[2];
  const RunOptions& options_;
  std::size_t fed_ = 0;
  std::optional<int> exit_code_;
};

}  // namespace

std::string find_program(const std::string& name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return is_executable_file(name) ? name : std::string();
  const char* env_path = std::getenv("PATH");
  std::istringstream dirs(std::string(env_path ? env_path : "/usr/bin:/bin") + ":/usr/local/sbin:/usr/sbin:/sbin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

Fd open_pidfd(pid_t pid) { return Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::string describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string quoted_command(const std::vector<std::string>& argv) { return quoted(describe(argv)); }

Child::Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) kill_and_wait();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0) kill_and_wait();
}

std::optional<int> Child::try_wait() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return std::nullopt;
  pid_ = -1;
  pidfd_.reset();
  // ECHILD: reaped elsewhere (SIGCHLD ignored); the exit code is lost.
  return r < 0 ? -1 : exit_code_of(status);
}

std::optional<int> Child::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto code = try_wait()) return code;
    if (pid_ <= 0) return std::nullopt;
    const int left = millis_until(deadline);
    if (left <= 0) return std::nullopt;
    if (pidfd_) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      ::poll(&p, 1, left);
    } else {
      ::poll(nullptr, 0, std::min<int>(left, kExitCheckInterval.count()));
    }
  }
}

int Child::kill_and_wait() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  pidfd_.reset();
  return r < 0 ? -1 : exit_code_of(status);
}

pid_t Child::release() {
  pidfd_.reset();
  return std::exchange(pid_, -1);
}

Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return make_error(Errc::invalid_argument, "empty command");
  const std::string program = find_program(argv[0]);
  if (program.empty()) return make_error(Errc::not_found, quoted(argv[0]) + " is not installed (not found in PATH)");
  SpawnSetup setup;
  if (int rc = configure(setup, options)) return errno_error("start " + quoted(argv[0]), rc);
  std::vector<std::string> args = argv;
  args[0] = program;
  auto c_argv = c_strings(args);
  const auto env = environment_with(options.env);
  auto c_env = c_strings(env);
  pid_t pid = -1;
  // glibc's posix_spawn reports a failed exec (not executable, bad format) as its result.
  if (int rc = ::posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attr, c_argv.data(), c_env.data())) {
    if (rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR)
      return make_error(Errc::not_found, "could not run " + quoted(program) + ": " + std::strerror(rc));
    return errno_error("start " + quoted(program), rc);
  }
  return Child(pid, open_pidfd(pid));
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const RunOptions& options) {
  const auto deadline = Clock::now() + options.timeout;
  auto in = make_pipe();
  if (!in) return in.error();
  auto out = make_pipe();
  if (!out) return out.error();
  auto err = make_pipe();
  if (!err) return err.error();
  SpawnOptions spawn_options;
  spawn_options.stdin_fd = in->read_end.get();
  spawn_options.stdout_fd = out->write_end.get();
  spawn_options.stderr_fd = err->write_end.get();
  auto child = spawn(argv, spawn_options);
  if (!child) return child.error();
  // The child has its own copies: closing ours lets it see EOF and us see its EOF.
  in->read_end.reset();
  out->write_end.reset();
  err->write_end.reset();

  Session session(std::move(*child), std::move(in->write_end), std::move(out->read_end), std::move(err->read_end),
                  options);
  if (!session.run(deadline))
    return make_error(Errc::timeout, quoted_command(argv) + " did not finish within " + format_timeout(options.timeout));
  return session.result();
}

}  // namespace rs
