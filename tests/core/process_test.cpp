#include "core/process.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

using namespace std::chrono_literals;
using rs::Errc;
using rs::run_process;
using rs::RunOptions;

namespace {

std::set<int> open_fds() {
  std::set<int> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) fds.insert(std::stoi(e.path().filename()));
  return fds;
}

RunOptions with_input(std::string input, std::chrono::milliseconds timeout = 10s) {
  RunOptions o;
  o.input = std::move(input);
  o.timeout = timeout;
  return o;
}

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// Runs fn with PATH set to `path`, then puts the old PATH back.
template <typename Fn>
auto with_path(const char* path, Fn fn) {
  std::string old = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", path, 1);
  auto r = fn();
  ::setenv("PATH", old.c_str(), 1);
  return r;
}

}  // namespace

TEST_CASE("find_program searches PATH and the sbin directories") {
  CHECK(rs::find_program("sh").rfind('/', 0) == 0);
  CHECK(with_path("/usr/bin:/bin", [] { return rs::find_program("sysctl"); }) == "/usr/sbin/sysctl");
  CHECK(rs::find_program("no-such-program-rs").empty());
  CHECK(rs::find_program("").empty());
  CHECK(rs::find_program("/bin/sh") == "/bin/sh");
  rs::testing::TempDir dir;
  std::ofstream(dir.path / "plain") << "echo hi\n";
  std::filesystem::permissions(dir.path / "plain", std::filesystem::perms::owner_read);
  CHECK(rs::find_program(dir.str() + "/plain").empty());  // not executable
  CHECK(rs::find_program("/etc").empty());           // not a file
}

TEST_CASE("run_process collects exit code, stdout and stderr, feeds stdin") {
  auto r = run_process({"sh", "-c", "cat; echo err >&2; exit 7"}, with_input("in"));
  REQUIRE(r.ok());
  CHECK(r->exit_code == 7);
  CHECK(r->out == "in");
  CHECK(r->err == "err\n");
  auto killed = run_process({"sh", "-c", "kill -9 $$"});
  REQUIRE(killed.ok());
  CHECK(killed->exit_code == 128 + SIGKILL);
  // An argument is one word, whatever it holds: no shell in between.
  auto echoed = run_process({"printf", "%s", "a b; $(x) 'q'"});
  REQUIRE(echoed.ok());
  CHECK(echoed->out == "a b; $(x) 'q'");
}

TEST_CASE("run_process: a missing or unrunnable program is not_found") {
  auto missing = run_process({"no-such-program-rs"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
  CHECK(missing.error().message.find("'no-such-program-rs'") != std::string::npos);
  rs::testing::TempDir dir;
  const std::string junk = dir.str() + "/junk";
  std::ofstream(junk) << "\x7f\x01 not a program";
  std::filesystem::permissions(junk, std::filesystem::perms::owner_all);
  auto unrunnable = run_process({junk});
  REQUIRE_FALSE(unrunnable.ok());
  CHECK(unrunnable.error().code == Errc::not_found);
  CHECK_FALSE(run_process({}).ok());
}

TEST_CASE("run_process: the timeout kills the child and returns at once") {
  rs::testing::TempDir dir;
  const std::string pid_file = dir.str() + "/pid";
  auto start = std::chrono::steady_clock::now();
  auto slow = run_process({"sh", "-c", "echo $$ > \"$0\"; exec sleep 30", pid_file}, with_input({}, 300ms));
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().code == Errc::timeout);
  CHECK(slow.error().message.find("did not finish within 300 ms") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  std::ifstream in(pid_file);
  pid_t pid = 0;
  in >> pid;
  REQUIRE(pid > 0);
  CHECK(process_gone(pid));  // killed and reaped: no zombie either
  // A fast command returns when it ends, not when the timeout does.
  start = std::chrono::steady_clock::now();
  REQUIRE(run_process({"true"}, with_input({}, 20s)).ok());
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("run_process: large output on both streams and large input do not deadlock") {
  RunOptions big = with_input({});
  big.output_limit = 8 << 20;
  auto both = run_process({"sh", "-c", "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2"}, big);
  REQUIRE(both.ok());
  CHECK(both->out.size() == 3000000);
  CHECK(both->err.size() == 3000000);
  // The child writes while it reads: stdin is fed while its output is read.
  big.input = std::string(2000000, 'x');
  auto echoed = run_process({"sh", "-c", "cat; cat /dev/null >&2"}, big);
  REQUIRE(echoed.ok());
  CHECK(echoed->out == big.input);
  // Output is bounded: the rest is read and dropped, the child still finishes.
  auto capped = run_process({"sh", "-c", "head -c 3000000 /dev/zero; exit 4"});
  REQUIRE(capped.ok());
  CHECK(capped->exit_code == 4);
  CHECK(capped->out.size() == std::size_t{1} << 20);
}

TEST_CASE("run_process: a child that does not read its input, and SIGPIPE in the child") {
  // This process survives the broken pipe (no SIGPIPE for it) and reports the exit.
  auto r = run_process({"true"}, with_input(std::string(4 << 20, 'x')));
  REQUIRE(r.ok());
  CHECK(r->exit_code == 0);
  // Even when this process ignores SIGPIPE, the child's pipelines end the usual way.
  auto old = ::signal(SIGPIPE, SIG_IGN);
  auto pipeline = run_process({"sh", "-c", "(yes; echo \"yes: $?\" >&2) | head -n 1"});
  ::signal(SIGPIPE, old);
  REQUIRE(pipeline.ok());
  CHECK(pipeline->out == "y\n");
  CHECK(pipeline->err == "yes: 141\n");
}

TEST_CASE("spawn: environment, wait_for, and a Child that goes out of scope is killed") {
  rs::SpawnOptions options;
  options.env = {{"RS_PROCESS_TEST", "value"}};
  auto child = rs::spawn({"sh", "-c", "[ \"$RS_PROCESS_TEST\" = value ] && exit 5"}, options);
  REQUIRE(child.ok());
  CHECK(child->wait_for(10s) == 5);
  pid_t pid = 0;
  {
    auto sleeper = rs::spawn({"sleep", "30"});
    REQUIRE(sleeper.ok());
    pid = sleeper->pid();
    CHECK_FALSE(sleeper->wait_for(50ms).has_value());
  }
  CHECK(process_gone(pid));
}

TEST_CASE("run_process leaks no descriptor on any path, pipe failures included") {
  const auto before = open_fds();
  (void)run_process({"sh", "-c", "echo out; echo err >&2"}, with_input("in"));
  (void)run_process({"no-such-program-rs"});
  (void)run_process({"sleep", "5"}, with_input({}, 100ms));
  (void)run_process({"true"}, with_input(std::string(1 << 20, 'x')));
  CHECK(open_fds() == before);

  // Leave room for exactly three more descriptors: the first pipe is made, the second fails.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  int free_slots = 0, limit = 0;
  for (; free_slots < 3; ++limit)
    if (!before.count(limit)) ++free_slots;
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(limit);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  auto starved = run_process({"true"}, with_input("x"));
  ::setrlimit(RLIMIT_NOFILE, &old);
  REQUIRE_FALSE(starved.ok());
  CHECK(starved.error().message.find("pipe") != std::string::npos);
  CHECK(open_fds() == before);
}
