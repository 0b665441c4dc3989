// Running programs as argv vectors (posix_spawn, never a shell): a timeout on every wait,
// output captured and bounded, every descriptor owned, no child left behind on any path.
#pragma once

#include "core/fd.hpp"
#include "core/result.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rs {

// The full path of a program: a name with a '/' as given, else the first executable regular
// file in $PATH, /usr/local/sbin, /usr/sbin, /sbin (sysctl lives in /usr/sbin, which is not
// on a non-root PATH). Empty when there is none.
std::string find_program(const std::string& name);

// A pidfd for `pid` (readable once the process has exited); an empty Fd when the kernel
// has none or the process is gone.
Fd open_pidfd(pid_t pid);

struct SpawnOptions {
  // The child's stdin, stdout, stderr; -1 keeps this process's own.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::map<std::string, std::string> env;  // set over this process's environment
  bool new_session = false;                 // setsid(): no controlling terminal, own group
};

// A started child process. Until it is waited for or released, the destructor kills
// (SIGKILL) and reaps it: no path leaves a stray process or a zombie.
class Child {
 public:
  Child() = default;
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  // Readable once the child has exited (empty without pidfd support).
  int exit_fd() const { return pidfd_.get(); }
  // Reaps the child if it has exited, without blocking: its exit code, else nullopt.
  std::optional<int> try_wait();
  // Waits up to `timeout` for the exit and reaps: the exit code, or nullopt when it still runs.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGKILL, then reaps; the exit code it died with.
  int kill_and_wait();
  // Gives the child up (a daemon): its PID, no longer killed or reaped here.
  pid_t release();

 private:
  friend Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options);
  Child(pid_t pid, Fd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}

  pid_t pid_ = -1;
  Fd pidfd_;
};

// Starts argv[0] (found by find_program) with argv[1..]. In the child only stdin, stdout
// and stderr stay open, no signal is blocked and SIGPIPE has its default action.
// Errc::not_found when the program is absent or cannot be executed.
Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Exit code of a wait status: the code, or 128 + the signal that ended the process.
int exit_code_of(int wait_status);

struct ProcessResult {
  int exit_code = 0;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

struct RunOptions {
  std::string input;  // fed to stdin while the output is read; stdin is closed after it
  std::chrono::milliseconds timeout{60000};
  std::size_t output_limit = 1 << 20;  // per stream; the rest is read and dropped
};

// Runs argv to its end and collects stdout and stderr. A non-zero exit is a value; an error
// only when it could not run (Errc::not_found) or did not finish and close its output
// within the timeout (killed, Errc::timeout).
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const RunOptions& options = {});

// Joins argv with spaces, for messages only (never executed).
std::string describe(const std::vector<std::string>& argv);
// The same in single quotes, as a message names its object: "'ip netns add x' exited with 1".
std::string quoted_command(const std::vector<std::string>& argv);

}  // namespace rs
