#include "agent/modules/docker_insecure_registry_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;
using namespace std::string_literals;

namespace {

constexpr const char* kDropin = "/etc/systemd/system/docker.service.d/90-registry-setup.conf";

DockerRegistryConfig config(std::vector<std::string> registries, std::string method = "dropin") {
  DockerRegistryConfig c;
  c.registries = std::move(registries);
  c.method = std::move(method);
  c.dropin = kDropin;
  return c;
}

}  // namespace

TEST_CASE("docker: drop-in repeats Debian's real ExecStart with the flag added") {
  FakeHost h;
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}));
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  CHECK(diff->files[0].after ==
        "# Managed by registry-setup: docker's own command line plus the insecure registries.\n"
        "[Service]\n"
        "ExecStart=\n"
        "ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS "
        "--insecure-registry 192.168.1.11:5000\n");
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.ctx.unit_files_changed());
  // Written but not loaded yet: the file is right, what is left is its handler's work.
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->files.empty());
  REQUIRE(again->changes.size() == 1);
  CHECK(again->changes[0].kind == ChangeKind::unloaded);
  CHECK_FALSE(again->settled());
  // The vendor unit is never touched; only the drop-in exists.
  CHECK_FALSE(std::filesystem::exists(h.at("/lib/systemd/system/docker.service")));

  // After daemon-reload the same action (it keeps nothing) sees nothing to do.
  REQUIRE(h.ctx.daemon_reload().ok());
  CHECK_FALSE(h.ctx.unit_files_changed());
  CHECK(h.systemd.exec_start("docker.service")->front().back() == "192.168.1.11:5000");
  auto clean = action.check(h.ctx);
  REQUIRE(clean.ok());
  CHECK(clean->empty());
}

TEST_CASE("docker: a drop-in deleted without a daemon-reload is written again") {
  FakeHost h;
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}));
  auto first = action.check(h.ctx);
  REQUIRE(first.ok());
  REQUIRE(action.apply(h.ctx, *first).ok());
  REQUIRE(h.ctx.daemon_reload().ok());
  REQUIRE(action.check(h.ctx)->empty());
  const std::string written = first->files[0].after;

  // Someone removes the file; systemd still runs the command line it loaded from it.
  std::filesystem::remove(h.at(kDropin));
  h.systemd.units["docker.service"].need_daemon_reload = true;
  REQUIRE(h.systemd.exec_start("docker.service")->front().back() == "192.168.1.11:5000");
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  CHECK(diff->files[0].path == kDropin);
  CHECK_FALSE(diff->files[0].before);
  CHECK(diff->files[0].after == written);

  // Without a pending reload the loaded command line is the disk's: a flag there is the
  // vendor's own and needs no drop-in.
  h.systemd.units["docker.service"].need_daemon_reload = false;
  auto vendor = action.check(h.ctx);
  REQUIRE(vendor.ok());
  CHECK(vendor->files.empty());
}

TEST_CASE("docker: a drop-in written but never loaded still needs the restart") {
  FakeHost h;
  write_text(h.at(kDropin), render_dropin([] {
               auto argv = debian_docker_exec_start();
               argv.push_back("--insecure-registry");
               argv.push_back("192.168.1.11:5000");
               return argv;
             }()));
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}));
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(diff->files.empty());
  REQUIRE(diff->changes.size() == 1);
  CHECK(diff->changes[0].kind == ChangeKind::unloaded);
  CHECK_THAT(diff->changes[0].text, Catch::Contains("has not loaded"));
}

TEST_CASE("docker: registries already listed are kept, new ones added once") {
  FakeHost h;
  auto argv = debian_docker_exec_start();
  argv.push_back("--insecure-registry=10.0.0.1:5000");
  h.systemd.loaded_exec["docker.service"] = argv;
  DockerInsecureRegistryAction same(config({"10.0.0.1:5000"}));
  auto nothing = same.check(h.ctx);
  REQUIRE(nothing.ok());
  CHECK(nothing->empty());  // already on the command line: no drop-in at all

  DockerInsecureRegistryAction more(config({"10.0.0.1:5000", "192.168.1.11:5000"}));
  auto diff = more.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  auto written = dropin_exec_start(diff->files[0].after);
  REQUIRE(written);
  CHECK(flag_registries(*written) == std::vector<std::string>{"10.0.0.1:5000", "192.168.1.11:5000"});
}

TEST_CASE("docker: insecure-registries in daemon.json move into the drop-in, other keys stay") {
  FakeHost h;
  write_text(h.at("/etc/docker/daemon.json"), R"({"debug": true, "insecure-registries": ["10.0.0.1:5000"]})");
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}));
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 2);
  auto written = dropin_exec_start(diff->files[0].after);
  REQUIRE(written);
  // The registry already listed and the one asked for, both as flags: nothing is lost.
  CHECK(flag_registries(*written) == std::vector<std::string>{"192.168.1.11:5000", "10.0.0.1:5000"});
  CHECK(diff->files[1].path == "/etc/docker/daemon.json");
  auto rest = nlohmann::json::parse(diff->files[1].after);
  CHECK_FALSE(rest.contains("insecure-registries"));
  CHECK(rest["debug"] == true);

  REQUIRE(action.apply(h.ctx, *diff).ok());
  auto again = DockerInsecureRegistryAction(config({"192.168.1.11:5000"})).check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->files.empty());
}

TEST_CASE("docker: daemon-json merges and keeps every other key") {
  FakeHost h;
  write_text(h.at("/etc/docker/daemon.json"),
             R"({"log-driver": "journald", "insecure-registries": ["10.0.0.1:5000"], "data-root": "/srv/docker"})");
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000", "10.0.0.1:5000"}, "daemon-json"));
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  // A running dockerd takes the file on SIGHUP: a reload, not a restart, and no handler.
  REQUIRE(diff->has(ChangeKind::reload));
  CHECK_FALSE(diff->needs_handlers);
  REQUIRE(action.apply(h.ctx, *diff).ok());
  auto j = nlohmann::json::parse(read_text(h.at("/etc/docker/daemon.json")));
  CHECK(j["log-driver"] == "journald");
  CHECK(j["data-root"] == "/srv/docker");
  CHECK(j["insecure-registries"] == nlohmann::json::array({"10.0.0.1:5000", "192.168.1.11:5000"}));
  CHECK(h.systemd.jobs == std::vector<std::string>{"reload docker.service"});
  CHECK(h.systemd.dockerd_trusts == std::vector<std::string>{"10.0.0.1:5000", "192.168.1.11:5000"});
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());
}

TEST_CASE("docker: daemon-json already right but never taken by the running dockerd is reloaded") {
  FakeHost h;
  write_text(h.at("/etc/docker/daemon.json"), R"({"insecure-registries": ["192.168.1.11:5000"]})");
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}, "daemon-json"));
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(diff->files.empty());
  REQUIRE(diff->changes.size() == 1);
  CHECK(diff->changes[0].kind == ChangeKind::reload);
  CHECK_THAT(diff->changes[0].text, Catch::Contains("does not trust 192.168.1.11:5000 yet"));
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.jobs == std::vector<std::string>{"reload docker.service"});
  CHECK(action.check(h.ctx)->empty());
}

TEST_CASE("docker: daemon-json on a stopped dockerd is only written, it reads the file when it starts") {
  FakeHost h;
  h.systemd.units["docker.service"].active_state = "inactive";
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}, "daemon-json"));
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  CHECK_FALSE(diff->has(ChangeKind::reload));
  CHECK(diff->needs_handlers);
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.jobs.empty());
  REQUIRE(h.systemd.start("docker.service").ok());
  CHECK(h.systemd.dockerd_trusts == std::vector<std::string>{"192.168.1.11:5000"});
}

TEST_CASE("docker: daemon-json refuses when the unit passes the flag, invalid JSON is an error") {
  FakeHost h;
  auto argv = debian_docker_exec_start();
  argv.insert(argv.end(), {"--insecure-registry", "10.0.0.1:5000"});
  h.systemd.loaded_exec["docker.service"] = argv;
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}, "daemon-json"));
  auto diff = action.check(h.ctx);
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.error().code == rs::Errc::conflict);

  FakeHost h2;
  write_text(h2.at("/etc/docker/daemon.json"), "{not json");
  DockerInsecureRegistryAction bad(config({"192.168.1.11:5000"}, "daemon-json"));
  auto r = bad.check(h2.ctx);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("not valid JSON"));
}

TEST_CASE("docker: daemon-json refuses a flag only the running dockerd's command line shows") {
  // An Environment= line of some drop-in: no ExecStart= and no DOCKER_OPTS file names the
  // flag, /proc/PID/cmdline of the running daemon does.
  FakeHost h;
  h.systemd.units["docker.service"].main_pid = 4242;
  write_text(h.at("/proc/4242/cmdline"), "/usr/sbin/dockerd\0-H\0fd://\0--insecure-registry\0"
                                         "10.0.0.1:5000\0"s);
  DockerInsecureRegistryAction action(config({"192.168.1.11:5000"}, "daemon-json"));
  auto diff = action.check(h.ctx);
  REQUIRE_FALSE(diff.ok());
  CHECK(diff.error().code == rs::Errc::conflict);
  CHECK_THAT(diff.error().message, Catch::Contains("running dockerd (PID 4242)") && Catch::Contains("10.0.0.1:5000"));
  CHECK_FALSE(h.files.read("/etc/docker/daemon.json").value());

  // Without the flag the same daemon takes daemon.json.
  write_text(h.at("/proc/4242/cmdline"), "/usr/sbin/dockerd\0-H\0fd://\0"s);
  auto fine = action.check(h.ctx);
  REQUIRE(fine.ok());
  CHECK(fine->files.size() == 1);
}

TEST_CASE("docker: unit-file command lines round-trip") {
  std::vector<std::string> argv = {"/usr/bin/x", "a b", "100%", "$DOCKER_OPTS", "q\"uote", "--k=v"};
  auto line = render_exec_line(argv);
  CHECK(line == R"(/usr/bin/x "a b" 100%% $DOCKER_OPTS "q\"uote" --k=v)");
  CHECK(split_exec_line(line) == argv);
  CHECK_FALSE(dropin_exec_start("[Service]\nExecStart=\n").has_value());
}

TEST_CASE("docker: flags in DOCKER_OPTS (/etc/default/docker) count as listed and as a conflict") {
  CHECK(docker_opts("# DOCKER_OPTS=\"--dns 8.8.8.8\"\nDOCKER_OPTS=\"--ip-forward=false --insecure-registry a:1\"\n") ==
        std::vector<std::string>{"--ip-forward=false", "--insecure-registry", "a:1"});
  CHECK(docker_opts("export DOCKER_OPTS='--insecure-registry=b:2'\n") == std::vector<std::string>{"--insecure-registry=b:2"});
  CHECK(docker_opts("").empty());

  FakeHost h;
  write_text(h.at("/etc/default/docker"), "DOCKER_OPTS=\"--insecure-registry 192.168.1.11:5000\"\n");
  DockerInsecureRegistryAction dropin(config({"192.168.1.11:5000"}));
  auto diff = dropin.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(diff->empty());  // already passed through $DOCKER_OPTS: no drop-in

  DockerInsecureRegistryAction json(config({"192.168.1.11:5000"}, "daemon-json"));
  auto refused = json.check(h.ctx);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == rs::Errc::conflict);
  CHECK_THAT(refused.error().message, Catch::Contains("DOCKER_OPTS in '/etc/default/docker'"));
}

TEST_CASE("docker: a registry that now serves TLS leaves the drop-in and daemon.json, the rest stays") {
  FakeHost h;
  DockerInsecureRegistryAction both(config({"10.0.0.1:5000", "10.0.0.2:5000"}));
  auto first = both.check(h.ctx);
  REQUIRE(first.ok());
  REQUIRE(both.apply(h.ctx, *first).ok());
  REQUIRE(h.systemd.reload().ok());

  auto c = config({"10.0.0.2:5000"});
  c.remove = {"10.0.0.1:5000"};
  DockerInsecureRegistryAction switched(c);
  auto diff = switched.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  CHECK_THAT(diff->files[0].after, !Catch::Contains("10.0.0.1:5000"));
  CHECK_THAT(diff->files[0].after, Catch::EndsWith("$DOCKER_OPTS --insecure-registry 10.0.0.2:5000\n"));
  REQUIRE(switched.apply(h.ctx, *diff).ok());
  REQUIRE(h.systemd.reload().ok());
  auto again = switched.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  // daemon-json: the entry leaves the list, every other key and entry stays.
  FakeHost j;
  write_text(j.at("/etc/docker/daemon.json"),
             R"({"log-driver": "journald", "insecure-registries": ["10.0.0.1:5000", "10.0.0.9:5000"]})");
  auto cj = config({}, "daemon-json");
  cj.remove = {"10.0.0.1:5000"};
  DockerInsecureRegistryAction json_action(cj);
  auto jd = json_action.check(j.ctx);
  REQUIRE(jd.ok());
  REQUIRE(jd->files.size() == 1);
  auto written = nlohmann::json::parse(jd->files[0].after);
  CHECK(written["log-driver"] == "journald");
  CHECK(written["insecure-registries"] == nlohmann::json::array({"10.0.0.9:5000"}));
}

TEST_CASE("docker: remove may not name a registry that registries lists") {
  YAML::Node args = YAML::Load("{registries: [a:5000], remove: [a:5000]}");
  Params::ProblemList problems;
  Params params(args, problems);
  CHECK(make_docker_insecure_registry_action(params) == nullptr);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].first == "remove");
}
