#include "lab/process.hpp"
#include "lab/system.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace rs::lab;
using namespace std::chrono_literals;

TEST_CASE("parse_mountinfo reads mount points, options and types") {
  const char* text =
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "40 30 0:35 / /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory\n"
      "41 30 0:36 / /run/with\\040space rw - tmpfs tmpfs rw\n"
      "42 30 0:37 / /run/x rw shared:5 master:2 - overlay overlay rw,lowerdir=/a\n";
  auto m = parse_mountinfo(text);
  REQUIRE(m.size() == 4);
  CHECK(m[0].mount_point == "/proc");
  CHECK(m[1].mount_point == "/sys/fs/cgroup/memory");
  CHECK(m[1].options.rfind("ro,", 0) == 0);
  CHECK(m[1].fs_type == "cgroup");
  CHECK(m[2].mount_point == "/run/with space");
  CHECK(m[3].fs_type == "overlay");
}

TEST_CASE("run_command collects output and exit codes, and enforces its timeout") {
  auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 3);
  CHECK(r->out == "out\n");
  CHECK(r->err == "err\n");
  auto in = run_command({"cat"}, 10s, "fed through stdin");
  REQUIRE(in.ok());
  CHECK(in->out == "fed through stdin");
  auto checked = run_checked({"sh", "-c", "echo broken >&2; exit 1"}, 10s);
  REQUIRE_FALSE(checked.ok());
  CHECK(checked.error().message.find("exited with 1: broken") != std::string::npos);
  auto missing = run_command({"no-such-program-for-the-lab"}, 10s);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == rs::Errc::not_found);
  auto slow = run_command({"sleep", "5"}, 200ms);
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().code == rs::Errc::timeout);
  auto attached = run_attached({"sh", "-c", "exit 4"}, 10s);
  REQUIRE(attached.ok());
  CHECK(*attached == 4);
  auto start = std::chrono::steady_clock::now();
  auto stuck = run_attached({"sleep", "5"}, 200ms);
  REQUIRE_FALSE(stuck.ok());
  CHECK(stuck.error().code == rs::Errc::timeout);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("processes are recognised by PID and start time, and wait_for_exit sees exits") {
  auto own = process_start_time(::getpid());
  REQUIRE(own);
  CHECK(process_matches(::getpid(), *own));
  CHECK_FALSE(process_matches(::getpid(), *own + 1));
  CHECK_FALSE(process_start_time(0));
  rs::testing::TempDir dir;
  const std::string log = dir.str() + "/spawn.log";
  auto pid = spawn_detached({"sh", "-c", "echo $RS_LAB_TEST_VALUE"}, {{"RS_LAB_TEST_VALUE", "hello"}}, log);
  REQUIRE(pid.ok());
  CHECK(wait_for_exit({*pid}, 10s).empty());
  auto text = read_file(log, 1024);
  REQUIRE(text.ok());
  CHECK(*text == "hello\n");
}
