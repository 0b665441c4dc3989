#include "agent/modules/systemd_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

namespace {

std::vector<std::string> texts(const Diff& diff) {
  std::vector<std::string> out;
  for (const auto& c : diff.changes) out.push_back(c.text);
  return out;
}

SystemdConfig restart_docker() {
  SystemdConfig c;
  c.unit = "docker.service";
  c.state = "restarted";
  return c;
}

}  // namespace

TEST_CASE("systemd: restart without unit changes does not reload") {
  FakeHost h;
  SystemdAction action(restart_docker());
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(texts(*diff) == std::vector<std::string>{"restart 'docker.service' (no running containers)"});
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.reloads == 0);
  CHECK(h.systemd.jobs == std::vector<std::string>{"restart docker.service"});
  // A restart is asked for on every run: the check after apply lists it, and nothing else.
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  REQUIRE(again->changes.size() == 1);
  CHECK(again->changes[0].kind == ChangeKind::restart);
  CHECK(again->settled());
}

TEST_CASE("systemd: a docker restart says what it does to the running containers") {
  FakeHost h;
  h.systemd.containers_running = 3;
  SystemdAction action(restart_docker());
  CHECK(texts(*action.check(h.ctx)) == std::vector<std::string>{"restart 'docker.service' (stops 3 running containers)"});
  h.systemd.live_restore = true;
  CHECK(texts(*action.check(h.ctx)) ==
        std::vector<std::string>{"restart 'docker.service' (live-restore: its 3 running containers keep running)"});
  h.systemd.containers_running = 1;
  h.systemd.live_restore = false;
  CHECK(texts(*action.check(h.ctx)) == std::vector<std::string>{"restart 'docker.service' (stops 1 running container)"});
  // A stopped dockerd has nothing to stop; a daemon that does not answer is a warning.
  h.systemd.units["docker.service"].active_state = "inactive";
  CHECK(texts(*action.check(h.ctx)) == std::vector<std::string>{"restart 'docker.service'"});
  h.systemd.units["docker.service"].active_state = "active";
  h.commands.results["curl"] = rs::agent::CommandResult{7, "", "curl: (7) Couldn't connect to server"};
  auto quiet = action.check(h.ctx);
  REQUIRE(quiet.ok());
  CHECK(texts(*quiet) == std::vector<std::string>{"restart 'docker.service'"});
  REQUIRE(quiet->warnings.size() == 1);
  CHECK_THAT(quiet->warnings[0], Catch::Contains("Couldn't connect"));
}

TEST_CASE("systemd: reloads first when unit files changed or systemd asks for it") {
  FakeHost h;
  REQUIRE(h.ctx.write_file("/etc/systemd/system/docker.service.d/90-registry-setup.conf",
                           "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --insecure-registry r:5000\n", 0644)
              .ok());
  SystemdAction action(restart_docker());
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(texts(*diff) == std::vector<std::string>{"daemon-reload", "restart 'docker.service' (no running containers)"});
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.reloads == 1);
  // The reload went through the host context: the unit files count as loaded now.
  CHECK_FALSE(h.ctx.unit_files_changed());
  CHECK(action.check(h.ctx)->settled());
  CHECK(h.systemd.exec_start("docker.service")->front().back() == "r:5000");

  FakeHost h2;
  h2.systemd.units["docker.service"].need_daemon_reload = true;
  SystemdConfig started;
  started.unit = "docker.service";
  started.state = "started";
  SystemdAction start(started);
  auto d2 = start.check(h2.ctx);
  REQUIRE(d2.ok());
  CHECK(texts(*d2) == std::vector<std::string>{"daemon-reload"});  // already active: no start
  CHECK_FALSE(d2->settled());
}

TEST_CASE("systemd: a failed restart reports the unit's own error and calls for rollback") {
  FakeHost h;
  h.systemd.fails = [](const std::string&) { return true; };
  h.commands.results["journalctl"] = CommandResult{0, "level=info msg=starting\nfailed to start daemon: bad flag\n", ""};
  SystemdAction action(restart_docker());
  CHECK(action.rolls_back_on_failure());
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  auto r = action.apply(h.ctx, *diff);
  REQUIRE_FALSE(r.ok());
  // dockerd's chatter is left out; its error is what the user sees.
  CHECK_THAT(r.error().message, Catch::EndsWith(": failed to start daemon: bad flag"));
  REQUIRE_FALSE(h.commands.calls.empty());
  CHECK(h.commands.calls.back().back() == "_SYSTEMD_UNIT=docker.service");
  SystemdConfig no_rollback = restart_docker();
  no_rollback.rollback = false;
  CHECK_FALSE(SystemdAction(no_rollback).rolls_back_on_failure());
}

TEST_CASE("systemd: enable only when not enabled, arguments validated") {
  FakeHost h;
  h.systemd.units["docker.service"].unit_file_state = "disabled";
  SystemdConfig c;
  c.unit = "docker.service";
  c.enabled = true;
  SystemdAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->changes.size() == 1);
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.enables == 1);
  CHECK(action.check(h.ctx)->empty());

  Params::ProblemList problems;
  YAML::Node args = YAML::Load("{name: docker, state: stopped, enabled: maybe}");
  Params params(args, problems);
  CHECK(make_systemd_action(params) == nullptr);
  CHECK(problems.size() == 3);
}
