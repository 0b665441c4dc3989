#include "agent/modules/systemd_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

namespace {

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
  CHECK(diff->changes == std::vector<std::string>{"restart 'docker.service'"});
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.reloads == 0);
  CHECK(h.systemd.jobs == std::vector<std::string>{"restart docker.service"});
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());
}

TEST_CASE("systemd: reloads first when unit files changed or systemd asks for it") {
  FakeHost h;
  REQUIRE(h.ctx.write_file("/etc/systemd/system/docker.service.d/90-registry-setup.conf",
                           "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --insecure-registry r:5000\n", 0644)
              .ok());
  SystemdAction action(restart_docker());
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(diff->changes == std::vector<std::string>{"daemon-reload", "restart 'docker.service'"});
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.reloads == 1);
  CHECK(h.systemd.exec_start("docker.service")->front().back() == "r:5000");

  FakeHost h2;
  h2.systemd.units["docker.service"].need_daemon_reload = true;
  SystemdConfig started;
  started.unit = "docker.service";
  started.state = "started";
  SystemdAction start(started);
  auto d2 = start.check(h2.ctx);
  REQUIRE(d2.ok());
  CHECK(d2->changes == std::vector<std::string>{"daemon-reload"});  // already active: no start
}

TEST_CASE("systemd: a failed restart restores the files, reloads, restarts, reports docker's error") {
  FakeHost h;
  const std::string dropin = "/etc/systemd/system/docker.service.d/90-registry-setup.conf";
  write_text(h.at("/etc/docker/daemon.json"), "{\"insecure-registries\": [\"a:1\"]}\n");
  // dockerd refuses to start with the flag while daemon.json has the key.
  h.systemd.fails = [&](const std::string&) {
    auto argv = h.systemd.exec_start("docker.service")->front();
    return !flag_registries(argv).empty() && std::filesystem::exists(h.at("/etc/docker/daemon.json"));
  };
  h.commands.results["journalctl"] = CommandResult{
      0,
      "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are "
      "specified both as a flag and in the configuration file: insecure-registries\n",
      ""};
  REQUIRE(h.ctx.write_file(dropin, render_dropin({"/usr/sbin/dockerd", "--insecure-registry", "b:2"}), 0644).ok());

  SystemdAction action(restart_docker());
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  auto r = action.apply(h.ctx, *diff);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("specified both as a flag and in the configuration file"));
  CHECK_THAT(r.error().message, Catch::Contains("restored " + dropin));
  CHECK_THAT(r.error().message, Catch::Contains("active again"));
  // The drop-in did not exist before the run: restoring removes it.
  CHECK_FALSE(std::filesystem::exists(h.at(dropin)));
  CHECK(h.systemd.reloads == 2);
  CHECK(h.systemd.jobs == std::vector<std::string>{"restart docker.service", "restart docker.service"});
  CHECK(h.systemd.units["docker.service"].active_state == "active");
  // journalctl was asked for the unit's own lines only.
  REQUIRE_FALSE(h.commands.calls.empty());
  CHECK(h.commands.calls[0].back() == "_SYSTEMD_UNIT=docker.service");
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
