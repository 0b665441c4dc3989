// CommandFiles is how files are read and written over ssh; here its scripts run through the
// real ProcessCommandRunner against a temp dir, so everything but ssh itself is real.
#include "agent/host/command_files.hpp"

#include "agent/host/process_command_runner.hpp"
#include "fakes.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

TEST_CASE("command files: read, atomic write with mode, list, sha256, remove") {
  TempDir dir;
  ProcessCommandRunner runner;
  CommandFiles files(runner);
  const std::string path = dir.str() + "/a dir/it's here.conf";
  auto absent = files.read(path);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
  std::string binary("\0\x01\xff line\n", 9);
  REQUIRE(files.write(path, binary, 0640).ok());
  auto back = files.read(path);
  REQUIRE(back.ok());
  REQUIRE(back->has_value());
  CHECK(**back == binary);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  auto names = files.list(dir.str() + "/a dir");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"it's here.conf"});  // no temp file left behind
  auto digest = files.sha256(path);
  REQUIRE(digest.ok());
  LocalFiles local("/");
  CHECK(**digest == **local.sha256(path));
  CHECK(files.list(dir.str() + "/none")->empty());
  REQUIRE(files.remove(path).ok());
  CHECK_FALSE(files.read(path)->has_value());
}

TEST_CASE("process runner: exit codes, stderr, stdin, timeouts, missing programs") {
  ProcessCommandRunner runner;
  auto r = runner.run({"sh", "-c", "cat; echo err >&2; exit 7"}, "in", std::chrono::seconds(10));
  REQUIRE(r.ok());
  CHECK(r->exit_code == 7);
  CHECK(r->out == "in");
  CHECK(r->err == "err\n");
  auto start = std::chrono::steady_clock::now();
  auto slow = runner.run({"sleep", "5"}, {}, std::chrono::milliseconds(300));
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().code == rs::Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  // A fast command returns at once, not after the timeout.
  start = std::chrono::steady_clock::now();
  REQUIRE(runner.run({"true"}, {}, std::chrono::seconds(20)).ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  auto missing = runner.run({"no-such-program-rs"}, {}, std::chrono::seconds(1));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == rs::Errc::not_found);
  // Large output on both streams does not deadlock.
  auto big = runner.run({"sh", "-c", "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2"}, {}, std::chrono::seconds(10));
  REQUIRE(big.ok());
  CHECK(big->out.size() == 300000);
  CHECK(big->err.size() == 300000);
}
