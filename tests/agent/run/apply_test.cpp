#include "agent/run/apply.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

namespace {

// Hosts named "down-*" are unreachable; the others are fake hosts under one temp dir
// that persist across runs, so a second run sees the first one's work.
class FakeConnector : public Connector {
 public:
  Result<HostConnection> connect(const ConnectionSettings& host) override {
    if (host.name.rfind("down-", 0) == 0) return rs::make_error(rs::Errc::unavailable, "ssh '" + host.address + "': No route to host");
    auto& s = state(host.name);
    HostConnection c;
    c.files = std::make_unique<LocalFiles>(s.root);
    c.commands = std::make_unique<FakeCommandRunner>();
    c.systemd = std::make_unique<ForwardSystemd>(*s.systemd);
    c.address = host.address;
    // The registry probe never touches the network here: it answers as a running registry.
    c.probe_registry = [](const std::string&, int, const std::string&) { return rs::ok(); };
    return c;
  }

  struct Host {
    std::string root;
    std::unique_ptr<LocalFiles> files;
    std::unique_ptr<FakeSystemd> systemd;
  };
  Host& state(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& h = hosts_[name];
    if (!h.files) {
      h.root = (dir_.path / name).string();
      write_text(std::filesystem::path(h.root) / "proc/sys/net/ipv4/ip_forward", "0\n");
      h.files = std::make_unique<LocalFiles>(h.root);
      h.systemd = std::make_unique<FakeSystemd>(*h.files);
    }
    return h;
  }

  TempDir dir_;
  std::mutex mutex_;
  std::map<std::string, Host> hosts_;
};

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run apply(const std::string& inventory_text, FakeConnector& connector, std::vector<std::string> extra = {},
          const std::string& playbook = std::string(RS_SOURCE_DIR) + "/playbooks/site.yml") {
  static TempDir dir;
  write_text(dir.path / "inventory.yml", inventory_text);
  write_text(dir.path / "binary", "registry-setup binary");
  ApplyOptions o;
  o.inventory = {(dir.path / "inventory.yml").string()};
  o.playbook = playbook;
  o.self_binary = (dir.path / "binary").string();
  for (const auto& e : extra) {
    if (e == "--check") o.check = true;
    if (e == "--json") o.json = true;
    if (e == "--diff") o.diff = true;
  }
  std::ostringstream out, err;
  int code = run_apply(o, connector, out, err);
  return {code, out.str(), err.str()};
}

const char* kTwoHosts = R"(all:
  children:
    registry: {hosts: {host-a: {ansible_host: 10.77.0.11}}}
    clients: {hosts: {host-b: {ansible_host: 10.77.0.12}}}
)";

std::string default_playbook() { return std::string(RS_SOURCE_DIR) + "/playbooks/site.yml"; }

}  // namespace

TEST_CASE("apply: the seed converges, the second run changes and restarts nothing") {
  FakeConnector connector;
  auto first = apply(kTwoHosts, connector, {}, default_playbook());
  INFO(first.out << first.err);
  REQUIRE(first.code == kExitOk);
  CHECK_THAT(first.out, Catch::Contains("changed: [host-a] HANDLER restart docker"));
  CHECK_THAT(first.out, Catch::Contains("host-a                   : ok=6    changed=4"));
  CHECK_THAT(first.out, Catch::Contains("host-b                   : ok=5    changed=3"));
  auto& a = connector.state("host-a");
  CHECK(a.systemd->jobs == std::vector<std::string>{"restart docker.service", "start registry-setup-registry.service"});
  CHECK(flag_registries(a.systemd->exec_start("docker.service")->front()) == std::vector<std::string>{"10.77.0.11:5000"});
  CHECK(flag_registries(connector.state("host-b").systemd->exec_start("docker.service")->front()) ==
        std::vector<std::string>{"10.77.0.11:5000"});

  auto second = apply(kTwoHosts, connector, {}, default_playbook());
  INFO(second.out);
  REQUIRE(second.code == kExitOk);
  CHECK_THAT(second.out, Catch::Contains("host-a                   : ok=5    changed=0"));
  CHECK_THAT(second.out, Catch::Contains("host-b                   : ok=4    changed=0"));
  CHECK(a.systemd->jobs.size() == 2);  // no restart, no start
  CHECK(a.systemd->reloads == 2);      // both in the first run
}

TEST_CASE("apply: --check changes nothing and --json is one document") {
  FakeConnector connector;
  auto r = apply(kTwoHosts, connector, {"--check", "--json", "--diff"}, default_playbook());
  REQUIRE(r.code == kExitOk);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["check"] == true);
  REQUIRE(j["hosts"].size() == 2);
  CHECK(j["hosts"][0]["stats"]["changed"] == 4);
  CHECK(j["hosts"][0]["tasks"][1]["files"][0]["path"] == "/etc/systemd/system/docker.service.d/90-registry-setup.conf");
  CHECK_THAT(j["hosts"][0]["tasks"][1]["files"][0]["after"].get<std::string>(), Catch::Contains("--insecure-registry 10.77.0.11:5000"));
  CHECK(connector.state("host-a").systemd->jobs.empty());
  CHECK_FALSE(std::filesystem::exists(connector.state("host-a").root + "/etc/sysctl.d/90-registry-setup.conf"));
  CHECK(read_text(connector.state("host-a").root + "/proc/sys/net/ipv4/ip_forward") == "0\n");
}

TEST_CASE("apply: exit 1 lists every problem and touches nothing") {
  FakeConnector connector;
  auto r = apply(R"(all:
  vars: {registry_port: port}
  children:
    registry: {hosts: {host-a: {ansible_connection: carrier-pigeon}}}
)", connector);
  CHECK(r.code == kExitUsage);
  CHECK_THAT(r.err, Catch::Contains("nothing was changed; 2 problems"));
  CHECK_THAT(r.err, Catch::Contains("inventory.yml:2: all.vars.registry_port"));
  CHECK_THAT(r.err, Catch::Contains("inventory.yml:4: all.children.registry.hosts.host-a.ansible_connection"));
  CHECK(connector.hosts_.empty());
}

TEST_CASE("apply: exit 4 for an unreachable host, the others still run") {
  FakeConnector connector;
  auto r = apply(R"(all:
  children:
    registry: {hosts: {host-a: {ansible_host: 10.77.0.11}}}
    clients: {hosts: {down-b: {ansible_host: 10.77.0.12}}}
)", connector, {}, default_playbook());
  CHECK(r.code == kExitUnreachable);
  CHECK_THAT(r.out, Catch::Contains("unreachable: [down-b] => ssh '10.77.0.12': No route to host"));
  CHECK_THAT(r.out, Catch::Contains("host-a                   : ok=6    changed=4"));
}

TEST_CASE("apply: exit 2 when a host fails, the failure names the cause") {
  FakeConnector connector;
  auto& b = connector.state("host-b");
  write_text(b.root + "/etc/docker/daemon.json", "{\"insecure-registries\": \"10.0.0.1:5000\"}");
  auto r = apply(kTwoHosts, connector, {}, default_playbook());
  CHECK(r.code == kExitHostFailed);
  CHECK_THAT(r.out, Catch::Contains("failed: [host-b] docker trusts the private registry"));
  CHECK_THAT(r.out, Catch::Contains("insecure-registries is not a list"));
  CHECK_THAT(r.out, Catch::Contains("host-a                   : ok=6    changed=4    unreachable=0    failed=0"));
}
