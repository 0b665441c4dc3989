#include "agent/modules/sysctl_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

TEST_CASE("sysctl: sets the live value and its own file, then is clean") {
  FakeHost h;
  SysctlAction action("net.ipv4.ip_forward", "1", kSysctlFile);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->changes.size() == 1);
  CHECK(diff->changes[0].kind == ChangeKind::live_value);
  CHECK(diff->changes[0].text == "live net.ipv4.ip_forward: 0 -> 1");
  REQUIRE(diff->files.size() == 1);
  CHECK(diff->files[0].path == "/etc/sysctl.d/90-registry-setup.conf");
  CHECK_FALSE(diff->files[0].before.has_value());
  // check reads only.
  CHECK(read_text(h.at("/proc/sys/net/ipv4/ip_forward")) == "0\n");
  CHECK_FALSE(std::filesystem::exists(h.at(kSysctlFile)));

  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(read_text(h.at("/proc/sys/net/ipv4/ip_forward")) == "1\n");
  CHECK_THAT(read_text(h.at(kSysctlFile)), Catch::Contains("\nnet.ipv4.ip_forward = 1\n"));
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());
  // Never appends to /etc/sysctl.conf.
  CHECK_FALSE(std::filesystem::exists(h.at("/etc/sysctl.conf")));
}

TEST_CASE("sysctl: only the file differs when the live value is already right") {
  FakeHost h;
  write_text(h.at("/proc/sys/net/ipv4/ip_forward"), "1\n");
  write_text(h.at(kSysctlFile), "# mine\nvm.swappiness = 10\nnet.ipv4.ip_forward=0\nnet.ipv4.ip_forward = 0\n");
  SysctlAction action("net.ipv4.ip_forward", "1", kSysctlFile);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(diff->changes.empty());
  REQUIRE(diff->files.size() == 1);
  // Other lines kept, duplicates of the key collapsed into one.
  CHECK(diff->files[0].after == "# mine\nvm.swappiness = 10\nnet.ipv4.ip_forward = 1\n");
  REQUIRE(action.apply(h.ctx, *diff).ok());
  // The previous file is backed up under the state dir before being replaced.
  CHECK(read_text(h.at("/var/lib/registry-setup/backups/run1/etc/sysctl.d/90-registry-setup.conf")) ==
        "# mine\nvm.swappiness = 10\nnet.ipv4.ip_forward=0\nnet.ipv4.ip_forward = 0\n");
}

TEST_CASE("sysctl: warns about files applied later and /etc/sysctl.conf") {
  FakeHost h;
  write_text(h.at("/etc/sysctl.d/99-override.conf"), "net.ipv4.ip_forward = 0\n");
  write_text(h.at("/usr/lib/sysctl.d/10-early.conf"), "net.ipv4.ip_forward = 0\n");  // earlier: fine
  write_text(h.at("/run/sysctl.d/95-agrees.conf"), "net.ipv4.ip_forward = 1\n");    // same value: fine
  write_text(h.at("/etc/sysctl.conf"), "#net.ipv4.ip_forward=1\nnet/ipv4/ip_forward = 0\n");
  SysctlAction action("net.ipv4.ip_forward", "1", kSysctlFile);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->warnings.size() == 2);
  CHECK_THAT(diff->warnings[0], Catch::Contains("/etc/sysctl.d/99-override.conf"));
  CHECK_THAT(diff->warnings[1], Catch::Contains("/etc/sysctl.conf"));
}

TEST_CASE("sysctl: unknown keys and bad arguments") {
  FakeHost h;
  SysctlAction action("net.ipv4.no_such_thing", "1", kSysctlFile);
  auto diff = action.check(h.ctx);
  REQUIRE_FALSE(diff.ok());
  CHECK_THAT(diff.error().message, Catch::Contains("no such kernel parameter"));

  Params::ProblemList problems;
  YAML::Node args = YAML::Load("{name: net.ipv4.ip_forward, value: '1', file: /etc/sysctl.conf}");
  Params params(args, problems);
  CHECK(make_sysctl_action(params) == nullptr);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].first == "file");
}

TEST_CASE("sysctl: parses sysctl.conf syntax") {
  CHECK(sysctl_setting("a.b = 1\n# a.b = 2\n a.b=3 \n", "a.b") == std::optional<std::string>("3"));
  CHECK(sysctl_setting("-a/b = 4\n", "a.b") == std::optional<std::string>("4"));
  CHECK_FALSE(sysctl_setting("a.bc = 1\n", "a.b").has_value());
}
