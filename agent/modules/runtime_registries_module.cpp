#include "agent/modules/runtime_registries_module.hpp"

#include "agent/modules/host_probes.hpp"

#include <algorithm>

namespace rs::agent {

namespace {

constexpr const char* kContainersConf = "/etc/containers/registries.conf";
constexpr const char* kContainersCerts = "/etc/containers/certs.d/";

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// A table header's name without blanks outside quotes, single quotes as double:
// `[ plugins.'io.containerd.grpc.v1.cri'.registry ]` -> plugins."io.containerd.grpc.v1.cri".registry.
// Empty when the line is not a header; "[[" for an array of tables.
std::string header_name(const std::string& line) {
  if (line.empty() || line[0] != '[') return "";
  if (line.size() > 1 && line[1] == '[') return "[[";
  std::string out;
  char quote = 0;
  for (std::size_t i = 1; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      out += c == '\'' ? '"' : c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      out += '"';
    } else if (c == ']') {
      return out;
    } else if (c != ' ' && c != '\t') {
      out += c;
    }
  }
  return "";  // no closing bracket: not a header we can read
}

// The key of a `key = value` line, blanks outside quotes removed; empty for other lines.
std::string line_key(const std::string& line) {
  if (line.empty() || line[0] == '#' || line[0] == '[') return "";
  std::string out;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      out += c;
    } else if (c == '=') {
      return out;
    } else if (c != ' ' && c != '\t') {
      out += c;
    }
  }
  return "";
}

// The value of `key = "text"` or `key = 'text'` (escapes not supported: nullopt).
std::optional<std::string> string_value(const std::string& line) {
  auto eq = line.find('=');
  std::string v = trim(line.substr(eq + 1));
  if (v.size() < 2 || (v[0] != '"' && v[0] != '\'')) return std::nullopt;
  auto end = v.find(v[0], 1);
  if (end == std::string::npos) return std::nullopt;
  std::string inner = v.substr(1, end - 1);
  if (v[0] == '"' && inner.find('\\') != std::string::npos) return std::nullopt;
  std::string rest = trim(v.substr(end + 1));
  if (!rest.empty() && rest[0] != '#') return std::nullopt;
  return inner;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

Result<void> write_all(HostContext& host, const Diff& diff) {
  for (const auto& f : diff.files)
    if (auto r = host.write_file(f.path, f.after, 0644); !r) return r.error();
  return ok();
}

// Adds `path` to the diff unless it already holds `content`.
Result<void> want_file(HostContext& host, Diff& diff, const std::string& path, const std::string& content) {
  auto have = host.files().read(path);
  if (!have) return have.error();
  if (!*have || **have != content) diff.files.push_back(FileChange{path, *have, content});
  return ok();
}

std::string summary_of(const RuntimeRegistries& r) {
  std::vector<std::string> list = r.insecure;
  for (const auto& t : r.tls) list.push_back(t.address + " (TLS)");
  return list.empty() ? std::string("no registries") : join_list(list);
}

}  // namespace

Result<ContainerdConfigPlan> plan_containerd_config(const std::optional<std::string>& text, const std::string& default_dir) {
  const std::string managed = "# registry-setup: containerd's CRI reads registries from hosts.toml files there.\n";
  bool blank = !text || std::all_of(text->begin(), text->end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
  if (blank)
    return ContainerdConfigPlan{default_dir, "version = 2\n\n" + managed + "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"" +
                                                 default_dir + "\"\n"};

  // Pass 1: the version (before any table), then each line's table.
  std::vector<std::string> lines;
  {
    std::size_t start = 0;
    while (start <= text->size()) {
      auto nl = text->find('\n', start);
      if (nl == std::string::npos) {
        if (start < text->size()) lines.push_back(text->substr(start));
        break;
      }
      lines.push_back(text->substr(start, nl - start));
      start = nl + 1;
    }
  }
  int version = 1;
  std::string table;
  std::optional<std::size_t> header_at;  // the registry table's header line
  std::optional<std::string> config_path;
  bool mirrors = false;
  bool in_multiline = false;
  std::string target;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    // Lines inside a multi-line string are text, not TOML.
    for (const char* q : {"\"\"\"", "'''"}) {
      std::size_t n = 0;
      for (auto p = line.find(q); p != std::string::npos; p = line.find(q, p + 3)) ++n;
      if (n % 2 == 1) in_multiline = !in_multiline;
    }
    if (in_multiline) continue;
    if (auto name = header_name(line); !name.empty()) {
      table = name;
      if (target.empty())
        target = version >= 2 ? "plugins.\"io.containerd.grpc.v1.cri\".registry" : "plugins.cri.registry";
      if (table == target) header_at = i;
      if (starts_with(table, target + ".mirrors")) mirrors = true;
      continue;
    }
    const std::string key = line_key(line);
    if (key.empty()) continue;
    if (table.empty() && key == "version") {
      auto v = trim(line.substr(line.find('=') + 1));
      version = v.empty() ? 1 : v[0] - '0';
      continue;
    }
    const bool dotted = key.size() > 12 && key.ends_with(".config_path") &&
                        (key.find("registry.") != std::string::npos);
    if (dotted)
      return make_error(Errc::unsupported, "'config.toml' line " + std::to_string(i + 1) +
                                               ": config_path is set as a dotted key; registry-setup edits only "
                                               "`config_path` inside the [" +
                                               (target.empty() ? std::string("plugins.\"io.containerd.grpc.v1.cri\".registry") : target) +
                                               "] table");
    if (!target.empty() && table == target && key == "config_path") {
      auto v = string_value(line);
      if (!v) return make_error(Errc::unsupported, "'config.toml' line " + std::to_string(i + 1) + ": config_path is not a plain string");
      config_path = *v;
    }
    if (!target.empty() && table == target && key.rfind("mirrors", 0) == 0) mirrors = true;
  }
  if (in_multiline)
    return make_error(Errc::invalid_argument, "'config.toml' ends inside a multi-line string: not TOML containerd reads");
  if (target.empty()) target = version >= 2 ? "plugins.\"io.containerd.grpc.v1.cri\".registry" : "plugins.cri.registry";

  if (config_path) {
    // A list of directories separated by ':' is read first to last: ours goes in the first.
    std::string first = config_path->substr(0, config_path->find(':'));
    if (first.empty() || first[0] != '/')
      return make_error(Errc::unsupported, "'config.toml': config_path '" + *config_path + "' is not an absolute directory");
    return ContainerdConfigPlan{first, std::nullopt};
  }
  if (mirrors)
    return make_error(Errc::conflict, "'config.toml' configures [" + target +
                                          ".mirrors], which containerd refuses beside config_path: move them into "
                                          "hosts.toml files under " +
                                          default_dir + ", or set config_path yourself");
  std::string out;
  if (header_at) {
    const std::string indent = lines[*header_at].substr(0, lines[*header_at].find('['));
    for (std::size_t i = 0; i < lines.size(); ++i) {
      out += lines[i] + "\n";
      if (i == *header_at) out += indent + "  config_path = \"" + default_dir + "\"\n";
    }
  } else {
    out = *text;
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "\n" + managed + "[" + target + "]\n  config_path = \"" + default_dir + "\"\n";
  }
  return ContainerdConfigPlan{default_dir, std::move(out)};
}

std::string render_hosts_toml(const std::string& address, const std::string& ca_path) {
  const bool tls = !ca_path.empty();
  const std::string url = (tls ? "https://" : "http://") + address;
  std::string out = "# Managed by registry-setup: containerd reaches " + address +
                    (tls ? " over TLS, trusting the CA beside this file.\n" : " over plain HTTP.\n");
  out += "server = \"" + url + "\"\n\n[host.\"" + url + "\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n";
  if (tls) out += "  ca = \"" + ca_path + "\"\n";
  return out;
}

std::string render_registries_conf(const std::vector<std::string>& insecure) {
  std::string out = "# Managed by registry-setup: podman, skopeo, buildah and CRI-O reach these registries over plain HTTP.\n";
  for (const auto& r : insecure) out += "\n[[registry]]\nlocation = \"" + r + "\"\ninsecure = true\n";
  return out;
}

std::string ContainerdRegistryAction::summary() const { return "containerd: " + summary_of(registries_); }

Result<Diff> ContainerdRegistryAction::check(HostContext& host) {
  Diff diff;
  if (registries_.insecure.empty() && registries_.tls.empty()) return diff;
  auto state = host.systemd().unit_state(kUnit);
  if (!state) return state.error();
  if (state->load_state != "loaded") return diff;  // no containerd on this host
  auto config = host.files().read(kConfig);
  if (!config) return config.error();
  auto plan = plan_containerd_config(*config);
  if (!plan) return plan.error().with_context(kConfig);
  for (const auto& r : registries_.insecure)
    if (auto w = want_file(host, diff, plan->hosts_dir + "/" + r + "/hosts.toml", render_hosts_toml(r)); !w) return w.error();
  for (const auto& r : registries_.tls) {
    auto pem = trusted_ca_pem(host, r);
    if (!pem) return pem.error();
    const std::string dir = plan->hosts_dir + "/" + r.address;
    if (auto w = want_file(host, diff, dir + "/ca.crt", *pem); !w) return w.error();
    if (auto w = want_file(host, diff, dir + "/hosts.toml", render_hosts_toml(r.address, dir + "/ca.crt")); !w) return w.error();
  }
  if (plan->rewritten) {
    diff.files.push_back(FileChange{kConfig, *config, *plan->rewritten});
    if (state->active_state == "active")
      diff.changes.push_back({ChangeKind::restart, std::string("restart '") + kUnit +
                                                       "' (config_path is read at start; containers keep running: "
                                                       "KillMode=process leaves their shims)"});
  }
  return diff;
}

Result<void> ContainerdRegistryAction::apply(HostContext& host, const Diff& diff) {
  if (auto r = write_all(host, diff); !r) return r;
  if (diff.has(ChangeKind::restart))
    if (auto r = host.systemd().restart(kUnit); !r) return r.error();
  return ok();
}

std::string ContainersRegistriesAction::summary() const { return "podman, skopeo, CRI-O: " + summary_of(registries_); }

Result<Diff> ContainersRegistriesAction::check(HostContext& host) {
  Diff diff;
  // containers-image's registries.conf comes with podman, skopeo, buildah and CRI-O (a
  // digest, not the file: only whether it is there matters).
  auto conf = host.files().sha256(kContainersConf);
  if (!conf) return conf.error();
  if (!*conf) return diff;
  auto have = host.files().read(kDropin);
  if (!have) return have.error();
  // Once written, the drop-in stays, listing what is insecure now (perhaps nothing).
  if (!registries_.insecure.empty() || *have)
    if (auto w = want_file(host, diff, kDropin, render_registries_conf(registries_.insecure)); !w) return w.error();
  for (const auto& r : registries_.tls) {
    auto pem = trusted_ca_pem(host, r);
    if (!pem) return pem.error();
    if (auto w = want_file(host, diff, kContainersCerts + r.address + "/ca.crt", *pem); !w) return w.error();
  }
  return diff;
}

Result<void> ContainersRegistriesAction::apply(HostContext& host, const Diff& diff) { return write_all(host, diff); }

namespace {

RuntimeRegistries runtime_params(Params& params) {
  RuntimeRegistries r;
  r.insecure = params.strings("insecure", false);
  const YAML::Node tls = params.node("tls");
  params.finish();
  for (const auto& a : r.insecure)
    if (!plain_registry_address(a)) params.problem("insecure", "'" + a + "' is not host:port");
  r.tls = trusted_registries_param(params, tls, "tls");
  return r;
}

}  // namespace

std::unique_ptr<Action> make_containerd_registry_action(Params& params) {
  auto r = runtime_params(params);
  if (!params.ok()) return nullptr;
  return std::make_unique<ContainerdRegistryAction>(std::move(r));
}

std::unique_ptr<Action> make_containers_registries_action(Params& params) {
  auto r = runtime_params(params);
  if (!params.ok()) return nullptr;
  return std::make_unique<ContainersRegistriesAction>(std::move(r));
}

}  // namespace rs::agent
