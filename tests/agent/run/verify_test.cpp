#include "agent/run/verify.hpp"

#include "agent/run/apply.hpp"
#include "fakes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <mutex>
#include <sstream>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

namespace {

const std::string kInventory = R"(all:
  children:
    registry:
      hosts:
        host-a: {ansible_host: 10.77.0.11}
    clients:
      hosts:
        host-b: {ansible_host: 10.77.0.12}
)";

// Fake hosts that persist across runs (apply, then verify sees its work). Their commands
// answer as a host with dockerd and curl would: GET /info lists `trusted`, GET /v2/ answers
// while `registry_up`, docker push/pull succeed.
class World : public Connector {
 public:
  struct Host {
    std::string root;
    std::unique_ptr<LocalFiles> files;
    std::unique_ptr<FakeSystemd> systemd;
    FakeCommandRunner commands;
    std::vector<std::string> trusted = {"10.77.0.11:5000"};
  };

  Result<HostConnection> connect(const ConnectionSettings& inv) override {
    if (inv.name.rfind("down-", 0) == 0) return rs::make_error(rs::Errc::unavailable, "ssh '" + inv.address + "': No route to host");
    auto& h = host(inv.name);
    HostConnection c;
    c.files = std::make_unique<LocalFiles>(h.root);
    c.commands = std::make_unique<ForwardCommands>(h.commands, mutex_);
    c.systemd = std::make_unique<ForwardSystemd>(*h.systemd);
    c.address = inv.address;
    // The registry probe never touches the network here: it answers as a running registry.
    c.probe_registry = [](const std::string&, int, const std::string&) { return rs::ok(); };
    return c;
  }

  Host& host(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& h = hosts_[name];
    if (!h.files) {
      h.root = (dir_.path / name).string();
      write_text(std::filesystem::path(h.root) / "proc/sys/net/ipv4/ip_forward", "0\n");
      h.files = std::make_unique<LocalFiles>(h.root);
      h.systemd = std::make_unique<FakeSystemd>(*h.files);
      auto* self = &h;
      h.commands.script = [this, self](const std::vector<std::string>& argv, const std::string&) -> std::optional<CommandResult> {
        if (argv[0] == "curl" && std::find(argv.begin(), argv.end(), "--unix-socket") != argv.end()) {
          nlohmann::json info = {{"RegistryConfig", {{"InsecureRegistryCIDRs", {"127.0.0.0/8"}}, {"IndexConfigs", nlohmann::json::object()}}}};
          for (const auto& t : self->trusted) info["RegistryConfig"]["IndexConfigs"][t] = {{"Name", t}, {"Secure", false}};
          return CommandResult{0, info.dump(), ""};
        }
        if (argv[0] == "curl" && std::find(argv.begin(), argv.end(), "DELETE") != argv.end()) return CommandResult{0, "202", ""};
        if (argv[0] == "curl") {
          if (!registry_up) return CommandResult{7, "", "curl: (7) Failed to connect to 10.77.0.11 port 5000: Connection refused"};
          return CommandResult{0, "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n\r\n", ""};
        }
        const std::string digest = "sha256:" + std::string(64, 'e');
        if (argv[0] == "docker" && argv[1] == "push") return CommandResult{0, "t: digest: " + digest + " size: 1\n", ""};
        if (argv[0] == "docker" && argv[1] == "pull") return CommandResult{0, "Digest: " + digest + "\n", ""};
        return std::nullopt;
      };
    }
    return h;
  }

  bool registry_up = true;

 private:
  struct ForwardCommands : CommandRunner {
    ForwardCommands(FakeCommandRunner& r, std::mutex& m) : r(r), m(m) {}
    Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input,
                              std::chrono::milliseconds t) override {
      std::lock_guard lock(m);
      return r.run(argv, input, t);
    }
    FakeCommandRunner& r;
    std::mutex& m;
  };

  TempDir dir_;
  std::mutex mutex_;
  std::map<std::string, Host> hosts_;
};

struct Run {
  int code;
  std::string out;
  std::string err;
};

struct Fixture {
  TempDir dir;
  World world;
  std::string playbook;
  Fixture() {
    write_text(dir.path / "inventory.yml", kInventory);
    write_text(dir.path / "binary", "registry-setup binary");
    // No network in unit tests: apply's registry probe is the connector's fake, verify's
    // facts run on the fake hosts' command runners.
    playbook = std::string(RS_SOURCE_DIR) + "/playbooks/site.yml";
  }
  Run apply() {
    ApplyOptions o;
    o.inventory = {(dir.path / "inventory.yml").string()};
    o.playbook = playbook;
    o.self_binary = (dir.path / "binary").string();
    std::ostringstream out, err;
    int code = run_apply(o, world, out, err);
    if (code != 0) WARN("apply: " << out.str() << err.str());
    return {code, out.str(), err.str()};
  }
  Run verify(bool json = false, bool probe = true, const std::string& inventory = "inventory.yml") {
    VerifyOptions o;
    o.inventory = {(dir.path / inventory).string()};
    o.playbook = playbook;
    o.self_binary = (dir.path / "binary").string();
    o.json = json;
    o.probe = probe;
    std::ostringstream out, err;
    int code = run_verify(o, world, out, err);
    return {code, out.str(), err.str()};
  }
  // The status of a row of one host, from the JSON document.
  static std::string status(const std::string& json, const std::string& host, const std::string& check) {
    auto j = nlohmann::json::parse(json);
    for (const auto& h : j["hosts"])
      if (h["host"] == host)
        for (const auto& c : h["checks"])
          if (c["name"] == check) return c["status"];
    return "(no row '" + check + "')";
  }
};

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("verify: drift on a fresh host, green after apply, nothing written", "[verify]") {
  Fixture f;
  auto before = f.verify(true, false);
  CHECK(before.code == 2);
  CHECK(Fixture::status(before.out, "host-b", "enable IP forwarding") == "drift");
  CHECK(Fixture::status(before.out, "host-b", "net.ipv4.ip_forward live") == "drift");
  CHECK(Fixture::status(before.out, "host-a", "registry-setup-registry.service") == "drift");
  // verify wrote nothing and started nothing.
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(f.world.host("host-a").root) / "etc/sysctl.d"));
  CHECK(f.world.host("host-a").systemd->jobs.empty());
  CHECK(f.world.host("host-a").systemd->reloads == 0);

  REQUIRE(f.apply().code == 0);
  auto green = f.verify();
  INFO(green.out);
  CHECK(green.code == 0);
  CHECK(has(green.out, "VERIFY RECAP"));
  CHECK(has(green.out, "host-a                   : ok=15   drift=0    failed=0    unreachable=0"));
  CHECK(has(green.out, "host-b                   : ok=12   drift=0    failed=0    unreachable=0"));
  CHECK(has(green.out, "push/pull/delete via 10.77.0.11:5000"));
  // host-a reaches its own registry once (its service's fact), host-b by a reach fact.
  CHECK_FALSE(has(green.out.substr(0, green.out.find("host-b (")), "reach http://"));
  CHECK(has(green.out, "reach http://10.77.0.11:5000/v2/"));
}

TEST_CASE("verify --json: one document with every check, expected and actual", "[verify]") {
  Fixture f;
  REQUIRE(f.apply().code == 0);
  auto r = f.verify(true, false);
  CHECK(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["exit_code"] == 0);
  CHECK(j["probe"] == false);
  REQUIRE(j["hosts"].size() == 2);
  const auto& a = j["hosts"][0];
  CHECK(a["host"] == "host-a");
  CHECK(a["connection"] == "ssh 10.77.0.11");
  CHECK(a["stats"]["ok"] == 14);
  bool found = false;
  for (const auto& c : a["checks"])
    if (c["name"] == "net.ipv4.ip_forward at boot") {
      found = true;
      CHECK(c["kind"] == "fact");
      CHECK(c["group"] == "enable IP forwarding");
      CHECK(c["expected"] == "1 from /etc/sysctl.d/90-registry-setup.conf");
      CHECK(c["actual"] == "1 from /etc/sysctl.d/90-registry-setup.conf");
    }
  CHECK(found);
  // --no-probe: no docker push anywhere.
  for (const auto& c : f.world.host("host-b").commands.calls) CHECK_FALSE((c[0] == "docker" && c[1] == "push"));
}

TEST_CASE("verify: ip_forward 0 is drift, apply repairs exactly that", "[verify]") {
  Fixture f;
  REQUIRE(f.apply().code == 0);
  write_text(std::filesystem::path(f.world.host("host-b").root) / "proc/sys/net/ipv4/ip_forward", "0\n");
  auto r = f.verify(true, false);
  CHECK(r.code == 2);
  CHECK(Fixture::status(r.out, "host-b", "enable IP forwarding") == "drift");
  CHECK(Fixture::status(r.out, "host-b", "net.ipv4.ip_forward live") == "drift");
  CHECK(Fixture::status(r.out, "host-b", "net.ipv4.ip_forward at boot") == "ok");
  CHECK(Fixture::status(r.out, "host-a", "enable IP forwarding") == "ok");
  auto repaired = f.apply();
  CHECK(has(repaired.out, "changed: [host-b] enable IP forwarding"));
  CHECK_FALSE(has(repaired.out, "changed: [host-a]"));
  CHECK(f.verify(false, false).code == 0);
}

TEST_CASE("verify: a stopped registry is drift on its host and for the clients that reach it", "[verify]") {
  Fixture f;
  REQUIRE(f.apply().code == 0);
  f.world.host("host-a").systemd->units["registry-setup-registry.service"].active_state = "inactive";
  f.world.registry_up = false;
  auto r = f.verify(true, false);
  CHECK(r.code == 2);
  CHECK(Fixture::status(r.out, "host-a", "registry service") == "drift");
  CHECK(Fixture::status(r.out, "host-a", "registry-setup-registry.service") == "drift");
  CHECK(Fixture::status(r.out, "host-a", "GET http://10.77.0.11:5000/v2/") == "drift");
  // host-b's own tasks are fine; apply on host-a repairs what host-b sees.
  CHECK(Fixture::status(r.out, "host-b", "reach http://10.77.0.11:5000/v2/") == "drift");
  CHECK(Fixture::status(r.out, "host-b", "docker trusts the private registry") == "ok");
}

TEST_CASE("verify: a wrong fact no task would repair is failed, and says so", "[verify]") {
  Fixture f;
  REQUIRE(f.apply().code == 0);
  // The configuration is right but dockerd runs without it: apply would not restart it.
  f.world.host("host-b").trusted.clear();
  auto r = f.verify(false, false);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(has(r.out, "failed    dockerd insecure registries (GET /info)"));
  CHECK(has(r.out, "the running dockerd does not trust 10.77.0.11:5000"));
  CHECK(has(r.out, "(apply would not change this)"));
  CHECK(has(r.out, "host-b                   : ok=10   drift=0    failed=1"));
}

TEST_CASE("verify: a pending daemon-reload is reported, drift when the docker task would reload", "[verify]") {
  Fixture f;
  REQUIRE(f.apply().code == 0);
  f.world.host("host-b").systemd->units["docker.service"].need_daemon_reload = true;
  auto r = f.verify(true, false);
  CHECK(r.code == 2);
  CHECK(Fixture::status(r.out, "host-b", "docker.service needs daemon-reload") == "failed");
}

TEST_CASE("verify: exit 4 for an unreachable host, 1 for invalid input", "[verify]") {
  Fixture f;
  REQUIRE(f.apply().code == 0);
  write_text(f.dir.path / "three.yml", kInventory + "        down-c: {ansible_host: 10.77.0.13}\n");
  auto r = f.verify(false, false, "three.yml");
  CHECK(r.code == 4);
  CHECK(has(r.out, "UNREACHABLE: ssh '10.77.0.13': No route to host"));
  CHECK(has(r.out, "host-b                   : ok=11   drift=0    failed=0    unreachable=0"));
  CHECK(has(r.out, "down-c                   : ok=0    drift=0    failed=0    unreachable=1"));

  write_text(f.dir.path / "bad.yml", "all:\n  hosts:\n    x: {ansible_port: nope}\n");
  auto bad = f.verify(false, false, "bad.yml");
  CHECK(bad.code == 1);
  CHECK(has(bad.err, "registry-setup verify: nothing was changed; 1 problem"));
  CHECK(has(bad.err, "ansible_port"));
}

TEST_CASE("verify: resolve decides drift or failed across hosts", "[verify]") {
  HostVerification a, b;
  a.host = "a";
  CheckRow task;
  task.kind = "task";
  task.module = "registry_service";
  task.status = CheckStatus::drift;
  a.rows.push_back(task);
  b.host = "b";
  CheckRow fact;
  fact.kind = "fact";
  fact.mismatch = true;
  fact.repaired_by = {{"a", "registry_service"}};
  b.rows.push_back(fact);
  fact.repaired_by = {{"a", "sysctl"}};
  b.rows.push_back(fact);
  std::vector<HostVerification> hosts = {a, b};
  resolve(hosts);
  CHECK(hosts[1].rows[0].status == CheckStatus::drift);
  CHECK(hosts[1].rows[1].status == CheckStatus::failed);
  CHECK(verify_exit_code(hosts) == 2);
  hosts[0].unreachable = true;
  CHECK(verify_exit_code(hosts) == 4);
  CHECK(verify_exit_code({}) == 0);
}
