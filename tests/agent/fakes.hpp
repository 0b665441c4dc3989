// Test doubles for the agent's side effects: files in a temp dir (the real LocalFiles),
// scripted commands, and a systemd that keeps unit state in memory.
#pragma once

#include "agent/host/command_runner.hpp"
#include "agent/host/host_context.hpp"
#include "agent/modules/docker_insecure_registry_module.hpp"
#include "agent/host/local_files.hpp"
#include "agent/host/systemd.hpp"
#include "tests/support/temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

namespace rs::agent::test {

using rs::testing::TempDir;

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class FakeCommandRunner : public CommandRunner {
 public:
  Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input, std::chrono::milliseconds) override {
    calls.push_back(argv);
    if (script)
      if (auto r = script(argv, input)) return *r;
    if (auto it = results.find(argv.at(0)); it != results.end()) return it->second;
    if (host_tools)
      if (auto r = host_tools(argv)) return *r;
    return CommandResult{0, "", ""};
  }
  std::vector<std::vector<std::string>> calls;
  std::map<std::string, CommandResult> results;  // by program name
  // Asked first; nullopt falls through to `results`.
  std::function<std::optional<CommandResult>(const std::vector<std::string>&, const std::string&)> script;
  // Asked last: the fake host's own programs (dockerd's API through curl).
  std::function<std::optional<CommandResult>(const std::vector<std::string>&)> host_tools;
};

// Debian 12's docker.service command line, as systemd reports it over D-Bus.
inline std::vector<std::string> debian_docker_exec_start() {
  return {"/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock", "$DOCKER_OPTS"};
}

// Behaves like systemd for docker.service: daemon-reload picks up the drop-in from the
// files, unit file changes set NeedDaemonReload, a restart fails when `fails` says so.
class FakeSystemd : public Systemd {
 public:
  explicit FakeSystemd(LocalFiles& files) : files_(files) {
    units["docker.service"] = UnitState{"loaded", "active", "running", "enabled", "success", false, 0};
    loaded_exec["docker.service"] = debian_docker_exec_start();
  }

  Result<std::vector<std::vector<std::string>>> exec_start(const std::string& unit) override {
    auto it = loaded_exec.find(unit);
    if (it == loaded_exec.end()) return std::vector<std::vector<std::string>>{};
    return std::vector<std::vector<std::string>>{it->second};
  }
  Result<UnitState> unit_state(const std::string& unit) override {
    auto it = units.find(unit);
    if (it == units.end()) return UnitState{"not-found", "inactive", "dead", "", "", false, 0};
    return it->second;
  }
  Result<void> reload() override {
    ++reloads;
    for (auto& [name, state] : units) state.need_daemon_reload = false;
    auto dropin = files_.read("/etc/systemd/system/docker.service.d/90-registry-setup.conf");
    loaded_exec["docker.service"] = debian_docker_exec_start();
    if (dropin.ok() && *dropin)
      if (auto argv = dropin_exec_start(**dropin)) loaded_exec["docker.service"] = *argv;
    for (auto& [name, state] : units)
      if (!state.load_state.empty() && files_.read("/etc/systemd/system/" + name).value()) state.load_state = "loaded";
    for (const auto& f : new_units)
      if (files_.read("/etc/systemd/system/" + f).value() && !units.count(f))
        units[f] = UnitState{"loaded", "inactive", "dead", "disabled", "success", false, 0};
    return ok();
  }
  Result<void> start(const std::string& unit) override { return job("start", unit); }
  Result<void> restart(const std::string& unit) override { return job("restart", unit); }
  Result<void> reload_unit(const std::string& unit) override { return job("reload", unit); }
  Result<void> enable(const std::string& unit) override {
    ++enables;
    if (!units.count(unit)) return make_error(Errc::not_found, "enable '" + unit + "': Unit file " + unit + " does not exist.");
    units[unit].unit_file_state = "enabled";
    return ok();
  }

  Result<void> job(const std::string& what, const std::string& unit) {
    jobs.push_back(what + " " + unit);
    auto it = units.find(unit);
    if (it == units.end()) return make_error(Errc::not_found, what + " '" + unit + "': Unit " + unit + " not found.");
    if (fails && fails(unit)) {
      it->second.active_state = "failed";
      it->second.result = "exit-code";
      it->second.exec_main_status = 1;
      return make_error(Errc::conflict, what + " '" + unit + "': job result 'failed', unit is failed");
    }
    it->second.active_state = "active";
    if (unit == "docker.service" && !(what == "reload" && ignore_sighup)) dockerd_trusts = docker_configuration();
    return ok();
  }

  // What a dockerd (re)started or sent SIGHUP now trusts: --insecure-registry flags of the
  // loaded command line and daemon.json's insecure-registries.
  std::vector<std::string> docker_configuration() const {
    std::vector<std::string> out;
    if (auto it = loaded_exec.find("docker.service"); it != loaded_exec.end())
      for (size_t i = 0; i + 1 < it->second.size(); ++i)
        if (it->second[i] == "--insecure-registry") out.push_back(it->second[i + 1]);
    auto json = files_.read("/etc/docker/daemon.json");
    if (json.ok() && *json) {
      auto j = nlohmann::json::parse(**json, nullptr, false);
      if (j.is_object() && j.contains("insecure-registries"))
        for (const auto& r : j["insecure-registries"]) out.push_back(r.get<std::string>());
    }
    return out;
  }

  // GET /info as dockerd answers it, with what the running daemon trusts.
  std::optional<CommandResult> docker_info(const std::vector<std::string>& argv) const {
    if (argv.empty() || argv[0] != "curl" || argv.back() != "http://localhost/info") return std::nullopt;
    if (auto it = units.find("docker.service"); it == units.end() || it->second.active_state != "active")
      return CommandResult{7, "", "curl: (7) Couldn't connect to server"};
    nlohmann::json index = nlohmann::json::object();
    for (const auto& r : dockerd_trusts) index[r] = {{"Name", r}, {"Secure", false}};
    nlohmann::json info = {{"RegistryConfig", {{"IndexConfigs", index}, {"InsecureRegistryCIDRs", {"127.0.0.0/8"}}}},
                           {"ContainersRunning", containers_running},
                           {"LiveRestoreEnabled", live_restore}};
    return CommandResult{0, info.dump(), ""};
  }

  std::map<std::string, UnitState> units;
  std::map<std::string, std::vector<std::string>> loaded_exec;
  std::vector<std::string> new_units = {"registry-setup-registry.service"};
  std::function<bool(const std::string&)> fails;
  int reloads = 0;
  int enables = 0;
  std::vector<std::string> jobs;
  std::vector<std::string> dockerd_trusts;  // the running dockerd's insecure registries
  bool ignore_sighup = false;               // a reload that dockerd refuses (a bad daemon.json)
  long containers_running = 0;
  bool live_restore = false;

 private:
  LocalFiles& files_;
};

// A connection's Systemd for a FakeSystemd that outlives the connection (a fake host's
// systemd keeps its state across runs).
struct ForwardSystemd : Systemd {
  explicit ForwardSystemd(FakeSystemd& s) : s(s) {}
  FakeSystemd& s;
  Result<std::vector<std::vector<std::string>>> exec_start(const std::string& u) override { return s.exec_start(u); }
  Result<UnitState> unit_state(const std::string& u) override { return s.unit_state(u); }
  Result<void> reload() override { return s.reload(); }
  Result<void> start(const std::string& u) override { return s.start(u); }
  Result<void> restart(const std::string& u) override { return s.restart(u); }
  Result<void> reload_unit(const std::string& u) override { return s.reload_unit(u); }
  Result<void> enable(const std::string& u) override { return s.enable(u); }
};

// One fake host: a root dir with /proc/sys, the fakes, and a context over them.
struct FakeHost {
  TempDir root;
  LocalFiles files{root.str()};
  FakeCommandRunner commands;
  FakeSystemd systemd{files};
  // The control machine's own files: the tests' binaries to copy live in temp dirs.
  LocalFiles control_files{"/"};
  ControlMachine control{&control_files, "/proc/self/exe", nullptr, 10};
  HostContext ctx{"host-a", "10.77.0.11", files, commands, systemd, "run1", control};

  FakeHost() {
    write_text(root.path / "proc/sys/net/ipv4/ip_forward", "0\n");
    commands.host_tools = [this](const std::vector<std::string>& argv) { return systemd.docker_info(argv); };
  }
  std::filesystem::path at(const std::string& p) const { return root.path / p.substr(1); }
};

}  // namespace rs::agent::test
