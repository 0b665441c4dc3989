#include "agent/run/facts.hpp"

#include "agent/modules/docker_info.hpp"
#include "agent/modules/docker_insecure_registry_module.hpp"
#include "agent/modules/host_probes.hpp"
#include "agent/modules/registry_service_module.hpp"
#include "agent/modules/sysctl_module.hpp"

#include "agent/host/process_command_runner.hpp"
#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;

namespace {

const std::string kInfo = R"({"ID":"x","RegistryConfig":{"InsecureRegistryCIDRs":["127.0.0.0/8","10.9.0.0/16"],
  "IndexConfigs":{"docker.io":{"Name":"docker.io","Secure":true,"Official":true},
                  "10.77.0.11:5000":{"Name":"10.77.0.11:5000","Secure":false,"Official":false}}}})";
const std::string kV2Head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDocker-Distribution-API-Version: registry/2.0\r\n\r\n";

CommandResult out(const std::string& text, int code = 0, const std::string& err = {}) { return CommandResult{code, text, err}; }

SysctlAction ip_forward() { return SysctlAction("net.ipv4.ip_forward", "1", kSysctlFile); }

}  // namespace

TEST_CASE("docker info: insecure registries by name and by CIDR", "[facts]") {
  auto info = parse_docker_info(kInfo);
  REQUIRE(info);
  CHECK(info->names == std::vector<std::string>{"10.77.0.11:5000"});
  CHECK(info->cidrs == std::vector<std::string>{"127.0.0.0/8", "10.9.0.0/16"});
  CHECK(info->str() == "10.77.0.11:5000, 127.0.0.0/8, 10.9.0.0/16");
  CHECK(trusts(*info, "10.77.0.11:5000"));
  CHECK(trusts(*info, "127.0.0.1:5000"));
  CHECK(trusts(*info, "10.9.3.4:443"));
  CHECK(trusts(*info, "10.9.0.0/16"));
  CHECK_FALSE(trusts(*info, "10.77.0.12:5000"));
  CHECK_FALSE(trusts(*info, "10.77.0.11:5001"));
  CHECK_FALSE(trusts(*info, "registry.example:5000"));
  CHECK_FALSE(parse_docker_info("not json"));
  CHECK_FALSE(parse_docker_info(R"({"ID":"x"})"));
}

TEST_CASE("probe helpers: digests from docker's output, its last line, a tar that tar reads", "[facts]") {
  const std::string hex(64, 'a');
  CHECK(output_digest("The push refers to repository [r/x]\nabc: Pushed\nt1: digest: sha256:" + hex + " size: 527\n") ==
        "sha256:" + hex);
  CHECK(output_digest("t1: Pulling from x\nDigest: sha256:" + hex + "\nStatus: Downloaded newer image\n") == "sha256:" + hex);
  CHECK_FALSE(output_digest("digest: sha256:abc"));
  CHECK(last_line("one\ntwo\n\n") == "two");
  CHECK(last_line("  \n") == "(no output)");

  auto tar = single_file_tar("registry-setup-verify", "hello\n");
  CHECK(tar.size() % 512 == 0);
  ProcessCommandRunner local;
  auto listed = local.run({"tar", "-tvf", "-"}, tar, std::chrono::seconds(10));
  REQUIRE(listed);
  CHECK(listed->exit_code == 0);
  CHECK(listed->out.find("registry-setup-verify") != std::string::npos);
  CHECK(listed->out.find(" 6 ") != std::string::npos);  // its size
}

TEST_CASE("sysctl facts: the live value and the file that wins at boot", "[facts]") {
  FakeHost h;
  auto action = ip_forward();
  auto live = sysctl_live_fact(action, "t", "host-a");
  auto boot = sysctl_boot_fact(action, "t", "host-a");
  CHECK(live.repaired_by.front().module == "sysctl");

  auto seen = live.observe(h.ctx);
  REQUIRE(seen);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "0");
  write_text(h.at("/proc/sys/net/ipv4/ip_forward"), "1\n");
  CHECK(live.observe(h.ctx)->matches);

  seen = boot.observe(h.ctx);
  REQUIRE(seen);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "not set in any file");
  write_text(h.at(kSysctlFile), "net.ipv4.ip_forward = 1\n");
  seen = boot.observe(h.ctx);
  CHECK(seen->matches);
  CHECK(seen->actual == "1 from /etc/sysctl.d/90-registry-setup.conf");
  // A file applied later wins; the module's check only warns about it.
  write_text(h.at("/etc/sysctl.d/99-local.conf"), "net.ipv4.ip_forward=0\n");
  seen = boot.observe(h.ctx);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "0 from /etc/sysctl.d/99-local.conf");
  auto diff = action.check(h.ctx);
  REQUIRE(diff);
  CHECK(diff->empty());
  REQUIRE(diff->warnings.size() == 1);
  CHECK(diff->warnings[0].find("99-local.conf") != std::string::npos);
}

TEST_CASE("dockerd's effective insecure registries come from GET /info on its socket", "[facts]") {
  FakeHost h;
  DockerRegistryConfig c;
  c.registries = {"10.77.0.11:5000"};
  auto fact = docker_insecure_fact(c, "t", "host-a");
  std::string info = kInfo;
  h.commands.script = [&](const std::vector<std::string>& argv, const std::string&) -> std::optional<CommandResult> {
    if (argv[0] == "curl") return out(info);
    return std::nullopt;
  };
  auto seen = fact.observe(h.ctx);
  REQUIRE(seen);
  CHECK(seen->matches);
  CHECK(h.commands.calls.back() ==
        std::vector<std::string>{"curl", "-sS", "--max-time", "10", "--unix-socket", "/var/run/docker.sock",
                                 "http://localhost/info"});

  c.registries = {"10.77.0.12:5000"};
  seen = docker_insecure_fact(c, "t", "host-a").observe(h.ctx);
  REQUIRE(seen);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "10.77.0.11:5000, 127.0.0.0/8, 10.9.0.0/16");
  CHECK(seen->message.find("does not trust 10.77.0.12:5000") != std::string::npos);

  // dockerd down: curl's own words.
  h.commands.script = [](const std::vector<std::string>& argv, const std::string&) -> std::optional<CommandResult> {
    if (argv[0] == "curl") return out("", 7, "curl: (7) Couldn't connect to server\n");
    return std::nullopt;
  };
  seen = fact.observe(h.ctx);
  REQUIRE(seen);
  CHECK_FALSE(seen->matches);
  CHECK(seen->message.find("Couldn't connect to server") != std::string::npos);

  // No curl on the host: the docker CLI asks the same endpoint.
  h.commands.script = [&](const std::vector<std::string>& argv, const std::string&) -> std::optional<CommandResult> {
    if (argv[0] == "curl") return out("", 127, "sh: curl: not found");
    if (argv[0] == "docker") return out(kInfo);
    return std::nullopt;
  };
  c.registries = {"10.77.0.11:5000"};
  seen = docker_insecure_fact(c, "t", "host-a").observe(h.ctx);
  REQUIRE(seen);
  CHECK(seen->matches);
  CHECK(h.commands.calls.back()[0] == "docker");
}

TEST_CASE("daemon-reload pending and the registry unit come from systemd", "[facts]") {
  FakeHost h;
  auto reload = daemon_reload_fact("docker.service", "t", "host-a");
  CHECK(reload.observe(h.ctx)->matches);
  h.systemd.units["docker.service"].need_daemon_reload = true;
  auto seen = reload.observe(h.ctx);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "yes");

  RegistryServiceConfig rc;
  auto unit = registry_unit_fact(rc, "t", "host-a");
  seen = unit.observe(h.ctx);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "inactive (dead), not-found");
  h.systemd.units[rc.unit] = UnitState{"loaded", "active", "running", "enabled", "success", false, 0};
  seen = unit.observe(h.ctx);
  CHECK(seen->matches);
  CHECK(seen->actual == "active (running), enabled");
  h.systemd.units[rc.unit].unit_file_state = "disabled";
  CHECK_FALSE(unit.observe(h.ctx)->matches);
}

TEST_CASE("GET /v2/ runs on the host and needs the registry header", "[facts]") {
  FakeHost h;
  std::string head = kV2Head;
  int code = 0;
  h.commands.script = [&](const std::vector<std::string>& argv, const std::string&) -> std::optional<CommandResult> {
    if (argv[0] == "curl") return out(head, code, code ? "curl: (7) Failed to connect to 10.77.0.11 port 5000" : "");
    return std::nullopt;
  };
  auto reach = registry_reach_fact(RegistryEndpoint{"10.77.0.11:5000"}, {{"host-a", "registry_service"}});
  auto seen = reach.observe(h.ctx);
  REQUIRE(seen);
  CHECK(seen->matches);
  CHECK(seen->actual == "HTTP/1.1 200 OK, Docker-Distribution-API-Version");
  CHECK(h.commands.calls.back().back() == "http://10.77.0.11:5000/v2/");

  head = "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n";
  seen = reach.observe(h.ctx);
  CHECK_FALSE(seen->matches);
  CHECK(seen->message.find("without a Docker-Distribution-API-Version header") != std::string::npos);

  code = 7;
  seen = reach.observe(h.ctx);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "no answer");
  CHECK(seen->message.find("Failed to connect") != std::string::npos);

  RegistryServiceConfig rc;
  auto own = registry_answers_fact(rc, "10.77.0.11", "t", "host-a");
  CHECK(own.name == "GET http://10.77.0.11:5000/v2/");
}

TEST_CASE("storage directory present and writable", "[facts]") {
  FakeHost h;
  RegistryServiceConfig rc;
  auto fact = registry_storage_fact(rc, "t", "host-a");
  int dir = 0, writable = 0;
  h.commands.script = [&](const std::vector<std::string>& argv, const std::string&) -> std::optional<CommandResult> {
    if (argv == std::vector<std::string>{"test", "-d", "/var/lib/registry"}) return out("", dir);
    if (argv == std::vector<std::string>{"test", "-w", "/var/lib/registry"}) return out("", writable);
    return std::nullopt;
  };
  CHECK(fact.observe(h.ctx)->matches);
  writable = 1;
  CHECK(fact.observe(h.ctx)->actual == "directory, not writable");
  dir = 1;
  CHECK(fact.observe(h.ctx)->actual == "absent");
}

TEST_CASE("push/pull probe: every step on the host, cleaned up, a failed step named with docker's words", "[facts]") {
  FakeHost h;
  const std::string digest = "sha256:" + std::string(64, 'b');
  std::string push_err;
  std::string pulled = digest;
  std::string import_input;
  h.commands.script = [&](const std::vector<std::string>& argv, const std::string& input) -> std::optional<CommandResult> {
    if (argv[0] == "docker" && argv[1] == "import") {
      import_input = input;
      return out("sha256:ccc\n");
    }
    if (argv[0] == "docker" && argv[1] == "push")
      return push_err.empty() ? out("x: digest: " + digest + " size: 527\n") : out("", 1, push_err);
    if (argv[0] == "docker" && argv[1] == "pull") return out("Digest: " + pulled + "\n");
    if (argv[0] == "curl") return out("202");
    return std::nullopt;
  };
  auto fact = push_pull_fact(RegistryEndpoint{"10.77.0.11:5000"}, "host-b", {});
  auto seen = fact.observe(h.ctx);
  REQUIRE(seen);
  CHECK(seen->matches);
  CHECK(import_input.size() % 512 == 0);
  std::vector<std::string> steps;
  for (const auto& c : h.commands.calls) steps.push_back(c[0] + " " + c[1]);
  CHECK(steps == std::vector<std::string>{"docker import", "docker push", "docker rmi", "docker pull", "curl -sS",
                                          "docker rmi"});
  const auto& del = h.commands.calls[4];
  CHECK(std::find(del.begin(), del.end(), "DELETE") != del.end());
  CHECK(del.back() == "http://10.77.0.11:5000/v2/registry-setup-verify/probe/manifests/" + digest);
  const auto& ref = h.commands.calls[0][3];
  CHECK(ref.rfind("10.77.0.11:5000/registry-setup-verify/probe:host-b-", 0) == 0);

  h.commands.calls.clear();
  push_err = "Get \"https://10.77.0.11:5000/v2/\": http: server gave HTTP response to HTTPS client\n";
  seen = fact.observe(h.ctx);
  REQUIRE(seen);
  CHECK_FALSE(seen->matches);
  CHECK(seen->actual == "failed at docker push");
  CHECK(seen->message.find("server gave HTTP response to HTTPS client") != std::string::npos);
  CHECK(h.commands.calls.back()[1] == "rmi");  // the local image is removed

  h.commands.calls.clear();
  push_err.clear();
  pulled = "sha256:" + std::string(64, 'd');
  seen = fact.observe(h.ctx);
  CHECK(seen->actual == "failed at digest comparison");
  // Pushed already: the manifest is deleted from the registry too.
  bool deleted = false;
  for (const auto& c : h.commands.calls) deleted = deleted || std::find(c.begin(), c.end(), "DELETE") != c.end();
  CHECK(deleted);
}
