#include "agent/modules/docker_insecure_registry_module.hpp"

#include "agent/modules/docker_info.hpp"
#include "agent/modules/host_probes.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <thread>

namespace rs::agent {
namespace {

using Json = nlohmann::ordered_json;
using namespace std::chrono_literals;

constexpr const char* kFlag = "--insecure-registry";

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// daemon.json as an object; absent means {}.
Result<Json> read_daemon_json(HostContext& host, const std::string& path) {
  auto text = host.files().read(path);
  if (!text) return text.error();
  if (!*text || (*text)->find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
  try {
    auto j = Json::parse(**text);
    if (!j.is_object()) return make_error(Errc::invalid_argument, "'" + path + "' is not a JSON object");
    return j;
  } catch (const Json::exception& e) {
    return make_error(Errc::invalid_argument, "'" + path + "' is not valid JSON: " + e.what());
  }
}

// The --insecure-registry flags of the unit's running main process, from /proc/PID/cmdline:
// the command line after systemd expanded every variable, whatever file set them.
struct RunningFlags {
  std::uint32_t pid = 0;
  std::vector<std::string> registries;
};

Result<RunningFlags> running_flag_registries(HostContext& host, const std::string& unit) {
  auto state = host.systemd().unit_state(unit);
  if (!state) return state.error();
  RunningFlags out{state->main_pid, {}};
  if (state->active_state != "active" || state->main_pid == 0) return out;
  auto cmdline = host.files().read("/proc/" + std::to_string(state->main_pid) + "/cmdline");
  if (!cmdline) return cmdline.error();
  if (!*cmdline) return out;  // it exited meanwhile
  std::vector<std::string> argv;
  std::istringstream in(**cmdline);
  for (std::string arg; std::getline(in, arg, '\0');) argv.push_back(arg);
  out.registries = flag_registries(argv);
  return out;
}

}  // namespace

std::vector<std::string> split_exec_line(const std::string& line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    std::string word;
    char quote = 0;
    if (line[i] == '"' || line[i] == '\'') quote = line[i++];
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (quote && c == quote) {
        ++i;
        break;
      }
      if (!quote && (c == ' ' || c == '\t')) break;
      if (c == '\\' && i + 1 < line.size()) {
        word += line[++i];
        continue;
      }
      if (c == '%' && i + 1 < line.size() && line[i + 1] == '%') ++i;
      word += c;
    }
    out.push_back(word);
  }
  return out;
}

std::string render_exec_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    std::string w;
    bool quote = a.empty() || a.find_first_of(" \t\"'\\;") != std::string::npos;
    for (char c : a) {
      if (c == '%') w += "%%";
      else if (quote && (c == '"' || c == '\\')) w += std::string("\\") + c;
      else w += c;
    }
    if (!out.empty()) out += ' ';
    out += quote ? "\"" + w + "\"" : w;
  }
  return out;
}

std::string render_dropin(const std::vector<std::string>& argv) {
  return "# Managed by registry-setup: docker's own command line plus the insecure registries.\n"
         "[Service]\n"
         "ExecStart=\n"
         "ExecStart=" + render_exec_line(argv) + "\n";
}

std::optional<std::vector<std::string>> dropin_exec_start(const std::string& text) {
  std::optional<std::vector<std::string>> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("ExecStart=", 0) != 0) continue;
    auto rest = line.substr(10);
    if (rest.find_first_not_of(" \t") == std::string::npos) {
      found.reset();
    } else {
      found = split_exec_line(rest);
    }
  }
  return found;
}

std::vector<std::string> flag_registries(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  const std::string eq = std::string(kFlag) + "=";
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == kFlag && i + 1 < argv.size()) out.push_back(argv[++i]);
    else if (argv[i].rfind(eq, 0) == 0) out.push_back(argv[i].substr(eq.size()));
  }
  return out;
}

namespace {

// argv without the --insecure-registry flags naming one of `remove`.
std::vector<std::string> without_flags(const std::vector<std::string>& argv, const std::vector<std::string>& remove) {
  std::vector<std::string> out;
  const std::string eq = std::string(kFlag) + "=";
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == kFlag && i + 1 < argv.size() && contains(remove, argv[i + 1])) {
      ++i;
      continue;
    }
    if (argv[i].rfind(eq, 0) == 0 && contains(remove, argv[i].substr(eq.size()))) continue;
    out.push_back(argv[i]);
  }
  return out;
}

}  // namespace

std::vector<std::string> docker_opts(const std::string& text) {
  std::string value;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    if (line.rfind("DOCKER_OPTS=", 0) == 0) value = line.substr(12);
  }
  // Environment files quote the whole value; words inside split on blanks.
  return split_exec_line(value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()
                             ? value.substr(1, value.size() - 2)
                             : value);
}

Result<std::vector<std::string>> DockerInsecureRegistryAction::env_registries(HostContext& host,
                                                                              const std::vector<std::string>& argv) {
  bool uses = std::any_of(argv.begin(), argv.end(), [](const std::string& a) {
    return a.find("$DOCKER_OPTS") != std::string::npos || a.find("${DOCKER_OPTS}") != std::string::npos;
  });
  if (!uses) return std::vector<std::string>{};
  auto text = host.files().read(config_.env_file);
  if (!text) return text.error();
  if (!*text) return std::vector<std::string>{};
  return flag_registries(docker_opts(**text));
}

std::string DockerInsecureRegistryAction::summary() const {
  std::string list;
  for (const auto& r : config_.registries) list += (list.empty() ? "" : ", ") + r;
  if (list.empty()) list = "no insecure registries";
  if (!config_.remove.empty()) {
    std::string gone;
    for (const auto& r : config_.remove) gone += (gone.empty() ? "" : ", ") + r;
    list += " (not " + gone + ": TLS)";
  }
  return list + " via " + config_.method;
}

Result<Diff> DockerInsecureRegistryAction::check(HostContext& host) {
  return config_.method == "daemon-json" ? check_daemon_json(host) : check_dropin(host);
}

Result<Diff> DockerInsecureRegistryAction::check_dropin(HostContext& host) {
  const auto& c = config_;
  // The same directive as a flag and in daemon.json stops dockerd: the registries listed
  // there become flags of the drop-in and the key leaves daemon.json (every other key stays).
  auto json = read_daemon_json(host, c.daemon_json);
  if (!json) return json.error();
  std::vector<std::string> wanted = c.registries;
  std::optional<FileChange> json_change;
  if (json->contains("insecure-registries")) {
    const auto& listed = (*json)["insecure-registries"];
    if (!listed.is_array())
      return make_error(Errc::invalid_argument, "'" + c.daemon_json + "': insecure-registries is not a list");
    for (const auto& r : listed) {
      if (!r.is_string())
        return make_error(Errc::invalid_argument, "'" + c.daemon_json + "': insecure-registries holds a non-string");
      if (!contains(wanted, r.get<std::string>()) && !contains(c.remove, r.get<std::string>()))
        wanted.push_back(r.get<std::string>());
    }
    Json rest = *json;
    rest.erase("insecure-registries");
    auto before = host.files().read(c.daemon_json);
    if (!before) return before.error();
    json_change = FileChange{c.daemon_json, *before, rest.dump(2) + "\n"};
  }

  auto loaded = host.systemd().exec_start(c.unit);
  if (!loaded) return loaded.error();
  if (loaded->size() != 1)
    return make_error(Errc::unsupported, "'" + c.unit + "' has " + std::to_string(loaded->size()) +
                                             " ExecStart= lines; a drop-in can only extend exactly one");
  auto text = host.files().read(c.dropin);
  if (!text) return text.error();
  // The files on disk are what docker starts with next time: a drop-in deleted without a
  // daemon-reload still shows in the loaded command line, so its flags do not count there.
  std::vector<std::string> current = loaded->front();
  bool stale = false;
  if (*text) {
    if (auto own = dropin_exec_start(**text)) current = *own;
  } else {
    auto state = host.systemd().unit_state(c.unit);
    if (!state) return state.error();
    stale = state->need_daemon_reload;
    if (stale) current = without_flags(current, wanted);
  }

  auto env = env_registries(host, current);
  if (!env) return env.error();
  Diff diff;
  for (const auto& r : c.remove) {
    if (contains(*env, r)) diff.warnings.push_back(r + " serves TLS but DOCKER_OPTS in '" + c.env_file + "' still marks it insecure");
    if (!*text && contains(flag_registries(current), r))
      diff.warnings.push_back(r + " serves TLS but '" + c.unit + "' itself still marks it insecure");
  }
  // Only flags of our own drop-in are taken away; the vendor's command line is not ours.
  auto desired = *text ? without_flags(current, c.remove) : current;
  for (const auto& r : wanted) {
    if (!contains(flag_registries(desired), r) && !contains(*env, r)) {
      desired.push_back(kFlag);
      desired.push_back(r);
    }
  }
  // Registries already on the vendor command line need no drop-in at all.
  if (*text || desired != current) {
    auto want = render_dropin(desired);
    if (!*text || **text != want) diff.files.push_back(FileChange{c.dropin, *text, want});
  }
  if (json_change) diff.files.push_back(std::move(*json_change));
  // A drop-in written earlier but never loaded: docker still runs without the flags (its
  // handler's daemon-reload and restart load it).
  if (diff.files.empty() && desired != loaded->front())
    diff.changes.push_back(
        {ChangeKind::unloaded, "'" + c.unit + "' has not loaded '" + c.dropin + "' yet (needs daemon-reload and restart)"});
  return diff;
}

Result<Diff> DockerInsecureRegistryAction::check_daemon_json(HostContext& host) {
  const auto& c = config_;
  auto loaded = host.systemd().exec_start(c.unit);
  if (!loaded) return loaded.error();
  std::vector<std::string> flags;
  for (const auto& argv : *loaded)
    for (const auto& r : flag_registries(argv)) flags.push_back(r);
  auto dropin = host.files().read(c.dropin);
  if (!dropin) return dropin.error();
  if (*dropin)
    if (auto own = dropin_exec_start(**dropin))
      for (const auto& r : flag_registries(*own)) flags.push_back(r);
  bool from_env = false;
  for (const auto& argv : *loaded) {
    auto env = env_registries(host, argv);
    if (!env) return env.error();
    from_env = from_env || !env->empty();
    flags.insert(flags.end(), env->begin(), env->end());
  }
  if (flags.empty()) {
    // What the files show is not all there is (an Environment= or EnvironmentFile= line of
    // some drop-in): the running dockerd's own argv says what its next start passes.
    auto running = running_flag_registries(host, c.unit);
    if (!running) return running.error();
    if (!running->registries.empty())
      return make_error(Errc::conflict,
                        "the running dockerd (PID " + std::to_string(running->pid) + ") was started with --insecure-registry " +
                            running->registries.front() + ", which no ExecStart= of '" + c.unit +
                            "' nor DOCKER_OPTS passes (an Environment= or EnvironmentFile= line of a drop-in, or a unit "
                            "change it was not restarted with); setting insecure-registries in '" + c.daemon_json +
                            "' too would make dockerd refuse it. Use insecure_registry_method: dropin, or remove the flag");
  }
  if (!flags.empty())
    return make_error(Errc::conflict,
                      "'" + c.unit + "' already passes --insecure-registry " + flags.front() +
                          (from_env ? " (DOCKER_OPTS in '" + c.env_file + "')" : *dropin ? " (see '" + c.dropin + "')" : "") +
                          "; setting insecure-registries in '" + c.daemon_json +
                          "' too would make dockerd refuse to start. Use insecure_registry_method: dropin, or "
                          "remove the flag");

  auto json = read_daemon_json(host, c.daemon_json);
  if (!json) return json.error();
  Json merged = *json;
  if (merged.contains("insecure-registries") && !merged["insecure-registries"].is_array())
    return make_error(Errc::invalid_argument, "'" + c.daemon_json + "': insecure-registries is not a list");
  if (!merged.contains("insecure-registries")) merged["insecure-registries"] = Json::array();
  auto& list = merged["insecure-registries"];
  bool changed = false;
  for (auto it = list.begin(); it != list.end();) {
    if (it->is_string() && contains(c.remove, it->get<std::string>())) {
      it = list.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  for (const auto& r : c.registries) {
    if (std::find(list.begin(), list.end(), Json(r)) == list.end()) {
      list.push_back(r);
      changed = true;
    }
  }
  Diff diff;
  if (changed) {
    auto text = host.files().read(c.daemon_json);
    if (!text) return text.error();
    diff.files.push_back(FileChange{c.daemon_json, *text, merged.dump(2) + "\n"});
  }
  // insecure-registries is one of dockerd's reloadable options: a running daemon takes it on
  // SIGHUP, its containers untouched. A stopped one reads the file when it starts.
  auto state = host.systemd().unit_state(c.unit);
  if (!state) return state.error();
  if (state->active_state != "active") return diff;
  const std::string reload = "reload '" + c.unit + "' (SIGHUP: dockerd re-reads " + c.daemon_json +
                             ", no restart, containers keep running)";
  if (changed) {
    diff.changes.push_back({ChangeKind::reload, reload});
    diff.needs_handlers = false;
    return diff;
  }
  // The file is right: has the running daemon taken it? (It was edited and never reloaded,
  // or a reload failed.)
  auto running = running_insecure_registries(host);
  if (!running) {
    diff.warnings.push_back("could not ask dockerd which registries it trusts: " + running.error().message);
    return diff;
  }
  std::vector<std::string> missing;
  for (const auto& r : c.registries)
    if (!trusts(*running, r)) missing.push_back(r);
  if (!missing.empty()) {
    diff.changes.push_back({ChangeKind::reload, reload + "; it does not trust " + join_list(missing) + " yet"});
    diff.needs_handlers = false;
  }
  return diff;
}

Result<void> DockerInsecureRegistryAction::apply(HostContext& host, const Diff& diff) {
  for (const auto& f : diff.files)
    if (auto r = host.write_file(f.path, f.after, 0644); !r) return r.error();
  if (!diff.has(ChangeKind::reload)) return ok();
  if (auto r = host.systemd().reload_unit(config_.unit); !r) return r.error();
  // SIGHUP is answered by no job: the daemon's own GET /info says when it took the file.
  std::vector<std::string> missing;
  auto delay = 20ms;
  for (auto waited = 0ms; waited < 10s; waited += delay, delay = std::min<std::chrono::milliseconds>(delay * 2, 500ms)) {
    auto running = running_insecure_registries(host);
    if (running) {
      missing.clear();
      for (const auto& r : config_.registries)
        if (!trusts(*running, r)) missing.push_back(r);
      if (missing.empty()) return ok();
    }
    std::this_thread::sleep_for(delay);
  }
  return make_error(Errc::timeout, "reload '" + config_.unit + "': after 10 s dockerd still does not trust " +
                                       join_list(missing) + " (GET /info); see its log for why it refused " +
                                       config_.daemon_json);
}

std::vector<Fact> DockerInsecureRegistryAction::facts(const FactScope& scope) const {
  if (config_.registries.empty()) return {};
  return {docker_insecure_fact(config_, scope.task, scope.host), daemon_reload_fact(config_.unit, scope.task, scope.host)};
}

Fact docker_insecure_fact(const DockerRegistryConfig& config, const std::string& task, const std::string& host) {
  auto registries = config.registries;
  const std::string unit = config.unit;
  return Fact{"dockerd insecure registries (GET /info)", join_list(registries), task, {{host, "docker_insecure_registry"}},
              [registries, unit](HostContext& h) -> Result<Observation> {
                auto info = running_insecure_registries(h);
                if (!info && info.error().code == Errc::unavailable) return Observation{false, "no answer", info.error().message};
                if (!info) return info.error();
                std::vector<std::string> missing;
                for (const auto& reg : registries)
                  if (!trusts(*info, reg)) missing.push_back(reg);
                if (missing.empty()) return Observation{true, info->str(), ""};
                return Observation{false, info->str(),
                                   "the running dockerd does not trust " + join_list(missing) + " (restart " + unit +
                                       " once its configuration lists them)"};
              }};
}

Fact daemon_reload_fact(const std::string& unit, const std::string& task, const std::string& host) {
  return Fact{unit + " needs daemon-reload", "no", task, {{host, "docker_insecure_registry"}},
              [unit](HostContext& h) -> Result<Observation> {
                auto s = h.systemd().unit_state(unit);
                if (!s) return s.error();
                if (!s->need_daemon_reload) return Observation{true, "no", ""};
                return Observation{false, "yes", "unit files of " + unit + " changed on disk since systemd loaded them"};
              }};
}

std::unique_ptr<Action> make_docker_insecure_registry_action(Params& params) {
  DockerRegistryConfig c;
  c.registries = params.strings("registries", false);
  c.remove = params.strings("remove", false);
  c.method = params.choice("method", {"dropin", "daemon-json"}, std::string("dropin"));
  c.unit = params.string("unit", std::string("docker.service"));
  c.dropin = params.string("dropin", "/etc/systemd/system/" + c.unit + ".d/90-registry-setup.conf");
  c.daemon_json = params.string("daemon_json", std::string("/etc/docker/daemon.json"));
  c.env_file = params.string("env_file", std::string("/etc/default/docker"));
  params.finish();
  for (const auto& r : c.remove)
    if (contains(c.registries, r)) params.problem("remove", "'" + r + "' is also in registries");
  for (const auto& r : c.registries)
    if (r.empty() || r.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:/[]") !=
                         std::string::npos)
      params.problem("registries", "'" + r + "' is not a registry address (host:port or a CIDR range)");
  if (!c.unit.ends_with(".service")) params.problem("unit", "'" + c.unit + "' is not a .service unit");
  for (const auto* p : {&c.dropin, &c.daemon_json})
    if (p->empty() || (*p)[0] != '/') params.problem(p == &c.dropin ? "dropin" : "daemon_json", "must be an absolute path");
  if (!params.ok()) return nullptr;
  return std::make_unique<DockerInsecureRegistryAction>(std::move(c));
}

}  // namespace rs::agent
