#include "agent/modules/registry_service_module.hpp"

#include "agent/modules/host_probes.hpp"
#include "agent/modules/unit_jobs.hpp"

#include <thread>

namespace rs::agent {

using namespace std::chrono_literals;

std::string RegistryServiceAction::summary() const {
  return config_.unit + " on " + config_.listen + ":" + std::to_string(config_.port) + ", data in " + config_.root;
}

std::string RegistryServiceAction::unit_file() const {
  const auto& c = config_;
  return "# Managed by registry-setup: the built-in v2 registry.\n"
         "[Unit]\n"
         "Description=registry-setup built-in Docker registry on port " + std::to_string(c.port) + "\n"
         "After=network-online.target\n"
         "Wants=network-online.target\n"
         "\n"
         "[Service]\n"
         "Type=notify\n"
         "ExecStartPre=/bin/mkdir -p " + c.root + "\n"
         "ExecStart=" + c.binary + " serve --listen " + c.listen + ":" + std::to_string(c.port) + " --root " + c.root + "\n"
         "Restart=always\n"
         // The server sizes its connections to the open-file limit: 4096 need ~8300.
         "LimitNOFILE=65536\n"
         "RestartSec=2\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n";
}

Result<Diff> RegistryServiceAction::check(HostContext& host) {
  Diff diff;
  const auto& control = host.control();
  if (!control.files) return make_error(Errc::internal, "no control machine files to copy the binary from");
  auto want = control.files->sha256(control.self_binary);
  if (!want) return want.error();
  if (!*want) return make_error(Errc::not_found, "binary to install '" + control.self_binary + "' does not exist");
  auto have = host.files().sha256(config_.binary);
  if (!have) return have.error();
  if (!*have || **have != **want) {
    FileChange f{config_.binary, std::nullopt, "", true};
    if (*have) f.before = std::string();
    diff.files.push_back(std::move(f));
  }
  auto unit = host.files().read(unit_path());
  if (!unit) return unit.error();
  auto text = unit_file();
  if (!*unit || **unit != text) diff.files.push_back(FileChange{unit_path(), *unit, text});
  // Before the unit file exists systemd knows nothing about it: enable and start follow.
  auto state = host.systemd().unit_state(config_.unit);
  if (!state) return state.error();
  if (state->unit_file_state != "enabled") diff.changes.push_back({ChangeKind::enable, "enable '" + config_.unit + "'"});
  // New files for a running service: it restarts on them.
  const std::string start = "start '" + config_.unit + "' (now " + state->active_state + ")";
  if (state->active_state != "active") diff.changes.push_back({ChangeKind::start, start});
  else if (!diff.files.empty()) diff.changes.push_back({ChangeKind::restart, start});
  return diff;
}

Result<void> RegistryServiceAction::apply(HostContext& host, const Diff& diff) {
  const auto& control = host.control();
  for (const auto& f : diff.files) {
    if (f.binary) {
      auto content = control.files->read(control.self_binary);
      if (!content) return content.error();
      if (!*content) return make_error(Errc::not_found, "binary '" + control.self_binary + "' vanished");
      if (auto r = host.write_file(f.path, **content, 0755); !r) return r.error();
    } else if (auto r = host.write_file(f.path, f.after, 0644); !r) {
      return r.error();
    }
  }
  // systemd must read the unit file before it can enable or start the unit.
  if (auto r = run_unit_jobs(host, config_.unit, diff, /*reload_if_stale=*/true); !r) return r;
  if (config_.probe && control.probe_registry) {
    // Type=notify: the job is done once serve says it is ready; a few tries cover slow hosts.
    Result<void> probed = make_error(Errc::unavailable, "not probed");
    for (int i = 0; i < control.probe_attempts && !(probed = control.probe_registry(host.address(), config_.port)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (!probed) return probed.error().with_context("registry '" + config_.unit + "' started but GET /v2/");
  }
  return ok();
}

std::vector<Fact> RegistryServiceAction::facts(const FactScope& scope) const {
  return {registry_unit_fact(config_, scope.task, scope.host),
          registry_answers_fact(config_, scope.address, scope.task, scope.host),
          registry_storage_fact(config_, scope.task, scope.host)};
}

std::unique_ptr<Action> make_registry_service_action(Params& params) {
  RegistryServiceConfig c;
  c.port = params.integer("port", 1, 65535, 5000);
  c.root = params.string("root", std::string("/var/lib/registry"));
  c.listen = params.string("listen", std::string("0.0.0.0"));
  c.unit = params.string("unit", std::string("registry-setup-registry.service"));
  c.binary = params.string("binary", std::string("/usr/local/bin/registry-setup"));
  c.probe = params.boolean("probe", true);
  params.finish();
  auto safe_path = [](const std::string& p) {
    return !p.empty() && p[0] == '/' && p.find_first_of(" \t\n\"'\\%$;") == std::string::npos &&
           p.find("..") == std::string::npos;
  };
  if (!safe_path(c.root)) params.problem("root", "'" + c.root + "' must be an absolute path without blanks or quotes");
  if (!safe_path(c.binary)) params.problem("binary", "'" + c.binary + "' must be an absolute path without blanks or quotes");
  if (c.listen.empty() || c.listen.find_first_not_of("0123456789.:abcdef[]") != std::string::npos)
    params.problem("listen", "'" + c.listen + "' is not an IP address");
  if (!c.unit.ends_with(".service") || c.unit.find('/') != std::string::npos)
    params.problem("unit", "'" + c.unit + "' is not a .service unit name");
  if (!params.ok()) return nullptr;
  return std::make_unique<RegistryServiceAction>(std::move(c));
}

Fact registry_unit_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host) {
  const std::string unit = config.unit;
  return Fact{unit, "active, enabled", task, {{host, "registry_service"}}, [unit](HostContext& h) -> Result<Observation> {
                auto s = h.systemd().unit_state(unit);
                if (!s) return s.error();
                std::string actual = s->active_state + " (" + s->sub_state + "), " +
                                     (s->unit_file_state.empty() ? s->load_state : s->unit_file_state);
                bool good = s->active_state == "active" && s->unit_file_state == "enabled";
                return Observation{good, actual, good ? "" : unit + " is " + actual};
              }};
}

Fact registry_answers_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                           const std::string& host) {
  const std::string registry = address + ":" + std::to_string(config.port);
  return Fact{"GET http://" + registry + "/v2/", "200/401 + Docker-Distribution-API-Version", task,
              {{host, "registry_service"}}, [registry](HostContext& h) { return get_v2_from(h, registry); }};
}

Fact registry_storage_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host) {
  const std::string root = config.root;
  // The unit creates it when it starts (ExecStartPre): a start by apply repairs an absent one.
  return Fact{"storage " + root, "directory, writable", task, {{host, "registry_service"}}, [root](HostContext& h) -> Result<Observation> {
                auto dir = run_tool(h, {"test", "-d", root}, 15s);
                if (!dir) return dir.error();
                if (dir->exit_code != 0) return Observation{false, "absent", "'" + root + "' is not a directory"};
                auto writable = run_tool(h, {"test", "-w", root}, 15s);
                if (!writable) return writable.error();
                if (writable->exit_code != 0)
                  return Observation{false, "directory, not writable", "'" + root + "' is not writable (read-only mount?)"};
                return Observation{true, "directory, writable", ""};
              }};
}

}  // namespace rs::agent
