#include "agent/modules/registry_service_module.hpp"

#include "agent/host/local_files.hpp"

#include <map>
#include <mutex>
#include <thread>

namespace rs::agent {
namespace {

constexpr const char* kEnable = "enable ";
constexpr const char* kStart = "start ";

// The digest of the binary this process would copy, computed once per path.
Result<std::string> local_digest(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::string> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  LocalFiles local("/");
  auto d = local.sha256(path);
  if (!d) return d.error();
  if (!*d) return make_error(Errc::not_found, "binary to install '" + path + "' does not exist");
  cache[path] = **d;
  return **d;
}

bool has_prefix(const Diff& diff, const std::string& prefix) {
  for (const auto& c : diff.changes)
    if (c.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

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
         "RestartSec=2\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n";
}

Result<Diff> RegistryServiceAction::check(HostContext& host) {
  Diff diff;
  auto want = local_digest(host.self_binary);
  if (!want) return want.error();
  auto have = host.files().sha256(config_.binary);
  if (!have) return have.error();
  if (!*have || **have != *want) {
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
  if (state->unit_file_state != "enabled") diff.changes.push_back(std::string(kEnable) + "'" + config_.unit + "'");
  if (state->active_state != "active" || !diff.files.empty())
    diff.changes.push_back(std::string(kStart) + "'" + config_.unit + "' (now " + state->active_state + ")");
  return diff;
}

Result<void> RegistryServiceAction::apply(HostContext& host, const Diff& diff) {
  bool restart = false;
  for (const auto& f : diff.files) {
    if (f.binary) {
      LocalFiles local("/");
      auto content = local.read(host.self_binary);
      if (!content) return content.error();
      if (!*content) return make_error(Errc::not_found, "binary '" + host.self_binary + "' vanished");
      if (auto r = host.write_file(f.path, **content, 0755); !r) return r.error();
    } else if (auto r = host.write_file(f.path, f.after, 0644); !r) {
      return r.error();
    }
    restart = true;
  }
  auto state = host.systemd().unit_state(config_.unit);
  if (!state) return state.error();
  if (host.unit_files_changed || state->need_daemon_reload) {
    if (auto r = host.systemd().reload(); !r) return r.error();
    host.unit_files_changed = false;
  }
  if (has_prefix(diff, kEnable))
    if (auto r = host.systemd().enable(config_.unit); !r) return r.error();
  if (has_prefix(diff, kStart)) {
    auto r = restart && state->active_state == "active" ? host.systemd().restart(config_.unit)
                                                        : host.systemd().start(config_.unit);
    if (!r) return r.error();
  }
  if (config_.probe && host.probe_registry) {
    // Type=notify: the job is done once serve says it is ready; a few tries cover slow hosts.
    Result<void> probed = make_error(Errc::unavailable, "not probed");
    for (int i = 0; i < host.probe_attempts && !(probed = host.probe_registry(host.address(), config_.port)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (!probed) return probed.error().with_context("registry '" + config_.unit + "' started but GET /v2/");
  }
  return ok();
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

}  // namespace rs::agent
