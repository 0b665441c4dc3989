#include "agent/run/apply.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>
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
    {
      std::lock_guard lock(mutex_);
      connected.push_back(host.name);
    }
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

  std::vector<std::string> connected;  // in the order connect was called
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
  CHECK_THAT(first.out, Catch::Contains("host-a                   : ok=8    changed=4"));
  CHECK_THAT(first.out, Catch::Contains("host-b                   : ok=7    changed=3"));
  auto& a = connector.state("host-a");
  CHECK(a.systemd->jobs == std::vector<std::string>{"restart docker.service", "start registry-setup-registry.service"});
  CHECK(flag_registries(a.systemd->exec_start("docker.service")->front()) == std::vector<std::string>{"10.77.0.11:5000"});
  CHECK(flag_registries(connector.state("host-b").systemd->exec_start("docker.service")->front()) ==
        std::vector<std::string>{"10.77.0.11:5000"});

  auto second = apply(kTwoHosts, connector, {}, default_playbook());
  INFO(second.out);
  REQUIRE(second.code == kExitOk);
  CHECK_THAT(second.out, Catch::Contains("host-a                   : ok=7    changed=0"));
  CHECK_THAT(second.out, Catch::Contains("host-b                   : ok=6    changed=0"));
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
  CHECK_THAT(r.out, Catch::Contains("host-a                   : ok=8    changed=4"));
}

TEST_CASE("apply: exit 2 when a host fails, the failure names the cause") {
  FakeConnector connector;
  auto& b = connector.state("host-b");
  write_text(b.root + "/etc/docker/daemon.json", "{\"insecure-registries\": \"10.0.0.1:5000\"}");
  auto r = apply(kTwoHosts, connector, {}, default_playbook());
  CHECK(r.code == kExitHostFailed);
  CHECK_THAT(r.out, Catch::Contains("failed: [host-b] docker trusts the private registry"));
  CHECK_THAT(r.out, Catch::Contains("insecure-registries is not a list"));
  CHECK_THAT(r.out, Catch::Contains("host-a                   : ok=8    changed=4    unreachable=0    failed=0"));
}

namespace {

const char* kSixHosts = R"(all:
  hosts:
    h1: {ansible_host: 10.77.0.1}
    h2: {ansible_host: 10.77.0.2}
    h3: {ansible_host: 10.77.0.3}
    down-4: {ansible_host: 10.77.0.4}
    h5: {ansible_host: 10.77.0.5}
    h6: {ansible_host: 10.77.0.6}
  children:
    registry: {hosts: {h6: {}}}
)";

// The six with h4 in place of down-4.
std::string six_reachable() {
  std::string six = kSixHosts;
  return six.replace(six.find("down-4"), 6, "h4");
}

std::string rolling_playbook(const std::string& keywords, const std::string& hosts = "all") {
  static TempDir dir;
  auto path = dir.path / "rolling.yml";
  write_text(path, "- name: forward\n  hosts: \"" + hosts + "\"\n" + keywords +
                       "  tasks:\n    - name: ip_forward\n      sysctl: {name: net.ipv4.ip_forward, value: \"1\"}\n");
  return path.string();
}

std::set<std::string> slice(const std::vector<std::string>& v, std::size_t from, std::size_t n) {
  return {v.begin() + static_cast<long>(from), v.begin() + static_cast<long>(std::min(v.size(), from + n))};
}

}  // namespace

TEST_CASE("apply: serial runs a play in batches, one after the other") {
  FakeConnector connector;
  auto r = apply(six_reachable(), connector, {}, rolling_playbook("  serial: 2\n"));
  INFO(r.out << r.err);
  REQUIRE(r.code == kExitOk);
  CHECK_THAT(r.out, Catch::Contains("PLAY [forward] batch 1/3: h1, h2\n"));
  CHECK_THAT(r.out, Catch::Contains("PLAY [forward] batch 3/3: h5, h6\n"));
  // Each batch is connected only after the one before it finished.
  REQUIRE(connector.connected.size() == 6);
  CHECK(slice(connector.connected, 0, 2) == std::set<std::string>{"h1", "h2"});
  CHECK(slice(connector.connected, 2, 2) == std::set<std::string>{"h3", "h4"});
  CHECK(slice(connector.connected, 4, 2) == std::set<std::string>{"h5", "h6"});
}

TEST_CASE("apply: a failed batch stops the run; the hosts after it are never touched") {
  FakeConnector connector;
  auto r = apply(kSixHosts, connector, {}, rolling_playbook("  serial: [1, 3]\n"));
  INFO(r.out << r.err);
  // down-4 is unreachable: 4 wins over 2, as ever.
  CHECK(r.code == kExitUnreachable);
  CHECK_THAT(r.out, Catch::Contains("PLAY [forward] batch 2/3: h2, h3, down-4\n"));
  CHECK_THAT(r.out, Catch::Contains("STOPPED: play 'forward' batch 2 failed on 1 of 3 host(s) (down-4), serial 1,3, "
                                    "max_fail_percentage 0; never touched: h5, h6\n"));
  CHECK(slice(connector.connected, 0, 10) == std::set<std::string>{"h1", "h2", "h3", "down-4"});
  CHECK_THAT(r.out, Catch::Contains("h5                       : ok=0    changed=0    unreachable=0    failed=0    skipped=0    never touched"));
  CHECK(read_text(connector.state("h2").root + "/etc/sysctl.d/90-registry-setup.conf").find("ip_forward") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(connector.state("h5").root + "/etc/sysctl.d/90-registry-setup.conf"));

  SECTION("max_fail_percentage lets a batch have that many failures") {
    FakeConnector again;
    auto r2 = apply(kSixHosts, again, {"--json"}, rolling_playbook("  serial: [1, 3]\n  max_fail_percentage: 34\n"));
    auto j = nlohmann::json::parse(r2.out);
    CHECK(j["stopped"].is_null());
    CHECK(again.connected.size() == 6);
    CHECK(j["exit_code"] == kExitUnreachable);
  }
  SECTION("the JSON document says why and which hosts") {
    FakeConnector again;
    auto r2 = apply(kSixHosts, again, {"--json"}, rolling_playbook("  serial: 3\n  max_fail_percentage: 33\n"));
    auto j = nlohmann::json::parse(r2.out);
    CHECK(j["stopped"] == "play 'forward' batch 2 failed on 1 of 3 host(s) (down-4), serial 3, max_fail_percentage 33");
    CHECK(again.connected.size() == 6);
    CHECK(j["hosts"][5]["untouched"] == false);
  }
}

TEST_CASE("apply: a play's hosts come in its pattern's order: 'registry:all' puts the registry first") {
  FakeConnector connector;
  auto r = apply(six_reachable(), connector, {}, rolling_playbook("  serial: 1\n", "registry:all"));
  INFO(r.out);
  REQUIRE(r.code == kExitOk);
  CHECK(connector.connected == std::vector<std::string>{"h6", "h1", "h2", "h3", "h4", "h5"});
}

TEST_CASE("apply: plays run one after the other; a host that failed takes no part in later plays") {
  FakeConnector connector;
  static TempDir dir;
  auto path = dir.path / "two-plays.yml";
  write_text(path, R"(- name: first
  hosts: all
  tasks:
    - {name: forward, sysctl: {name: net.ipv4.ip_forward, value: "1"}}
- name: second
  hosts: all
  tasks:
    - {name: forward again, sysctl: {name: net.ipv4.ip_forward, value: "1"}}
)");
  auto& b = connector.state("host-b");
  // host-b's sysctl file is a directory: its first play fails.
  std::filesystem::create_directories(b.root + "/etc/sysctl.d/90-registry-setup.conf");
  auto r = apply(kTwoHosts, connector, {}, path.string());
  INFO(r.out);
  CHECK(r.code == kExitHostFailed);
  CHECK_THAT(r.out, Catch::Contains("host-a                   : ok=2    changed=1    unreachable=0    failed=0    skipped=0"));
  CHECK_THAT(r.out, Catch::Contains("host-b                   : ok=0    changed=0    unreachable=0    failed=1    skipped=1"));
  CHECK(r.out.find("STOPPED") == std::string::npos);
}
