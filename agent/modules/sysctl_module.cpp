#include "agent/modules/sysctl_module.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace rs::agent {
namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string normalize(const std::string& s) { return normalize_sysctl_value(s); }

std::string normalize_key(std::string k) {
  k = trim(k);
  if (!k.empty() && k[0] == '-') k = trim(k.substr(1));
  std::replace(k.begin(), k.end(), '/', '.');
  return k;
}

// The key of a "key = value" line, or empty for comments and blanks.
std::string line_key(const std::string& line) {
  auto t = trim(line);
  if (t.empty() || t[0] == '#' || t[0] == ';') return {};
  auto eq = t.find('=');
  if (eq == std::string::npos) return {};
  return normalize_key(t.substr(0, eq));
}

}  // namespace

std::string normalize_sysctl_value(const std::string& value) {
  std::istringstream in(value);
  std::string out;
  for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

Result<std::vector<SysctlSource>> sysctl_sources(Files& files, const std::string& key) {
  std::map<std::string, std::string> by_name;
  for (const char* dir : {"/usr/lib/sysctl.d", "/lib/sysctl.d", "/run/sysctl.d", "/etc/sysctl.d"}) {
    auto names = files.list(dir);
    if (!names) return names.error();
    for (const auto& n : *names)
      if (n.size() > 5 && n.ends_with(".conf")) by_name[n] = std::string(dir) + "/" + n;
  }
  std::vector<std::string> paths;
  for (const auto& [name, path] : by_name) paths.push_back(path);
  paths.push_back("/etc/sysctl.conf");
  std::vector<SysctlSource> out;
  for (const auto& path : paths) {
    auto text = files.read(path);
    if (!text || !*text) continue;
    if (auto v = sysctl_setting(**text, key)) out.push_back(SysctlSource{path, *v});
  }
  return out;
}

std::optional<std::string> sysctl_setting(const std::string& text, const std::string& key) {
  std::optional<std::string> value;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line_key(line) == key) value = normalize(line.substr(line.find('=') + 1));
  }
  return value;
}

std::string sysctl_proc_path(const std::string& key) {
  std::string p = key;
  std::replace(p.begin(), p.end(), '.', '/');
  return "/proc/sys/" + p;
}

std::string SysctlAction::desired_file(const std::optional<std::string>& current) const {
  const std::string setting = key_ + " = " + value_;
  if (!current) return "# Managed by registry-setup: kernel settings it needs.\n" + setting + "\n";
  // Keep every other line; our key appears once, where it first was.
  std::string out;
  bool placed = false;
  std::istringstream in(*current);
  for (std::string line; std::getline(in, line);) {
    if (line_key(line) == key_) {
      if (!placed) out += setting + "\n";
      placed = true;
    } else {
      out += line + "\n";
    }
  }
  if (!placed) out += setting + "\n";
  return out;
}

Result<Diff> SysctlAction::check(HostContext& host) {
  Diff diff;
  auto live = host.files().read(sysctl_proc_path(key_));
  if (!live) return live.error();
  if (!*live) return make_error(Errc::not_found, "sysctl '" + key_ + "': no such kernel parameter (" + sysctl_proc_path(key_) + ")");
  auto now = normalize(**live);
  if (now != normalize(value_)) diff.changes.push_back({ChangeKind::live_value, "live " + key_ + ": " + now + " -> " + normalize(value_)});

  auto current = host.files().read(file_);
  if (!current) return current.error();
  auto want = desired_file(*current);
  if (!*current || **current != want) diff.files.push_back(FileChange{file_, *current, want});

  // Files applied after ours (same name order across /etc, /run, /usr/lib; /etc wins) and
  // /etc/sysctl.conf, which comes last of all.
  auto sources = sysctl_sources(host.files(), key_);
  if (!sources) return sources.error();
  const std::string own = file_.substr(file_.rfind('/') + 1);
  for (const auto& s : *sources) {
    const std::string name = s.path.substr(s.path.rfind('/') + 1);
    bool later = s.path == "/etc/sysctl.conf" || name > own;
    if (later && s.value != normalize(value_))
      diff.warnings.push_back("'" + s.path + "' sets " + key_ + " = " + s.value + " and is applied after '" + file_ +
                              "': it wins at boot");
  }
  return diff;
}

Result<void> SysctlAction::apply(HostContext& host, const Diff& diff) {
  for (const auto& f : diff.files)
    if (auto r = host.write_file(f.path, f.after, 0644); !r) return r.error();
  if (diff.has(ChangeKind::live_value)) {
    auto r = host.files().overwrite(sysctl_proc_path(key_), value_ + "\n");
    if (!r && r.error().code == Errc::permission_denied)
      return make_error(Errc::permission_denied, "sysctl '" + key_ + "': " + sysctl_proc_path(key_) +
                                                     " is read-only on this host (a container without a "
                                                     "writable /proc/sys?): " + r.error().message);
    if (!r) return r.error().with_context("sysctl '" + key_ + "'");
  }
  return ok();
}

std::vector<Fact> SysctlAction::facts(const FactScope& scope) const {
  return {sysctl_live_fact(*this, scope.task, scope.host), sysctl_boot_fact(*this, scope.task, scope.host)};
}

Fact sysctl_live_fact(const SysctlAction& action, const std::string& task, const std::string& host) {
  const std::string want = normalize_sysctl_value(action.value());
  const std::string path = sysctl_proc_path(action.key());
  return Fact{action.key() + " live", want, task, {{host, "sysctl"}}, [want, path](HostContext& h) -> Result<Observation> {
                auto live = h.files().read(path);
                if (!live) return live.error();
                if (!*live) return make_error(Errc::not_found, "no such kernel parameter (" + path + ")");
                auto now = normalize_sysctl_value(**live);
                return Observation{now == want, now, now == want ? "" : path + " is " + now};
              }};
}

Fact sysctl_boot_fact(const SysctlAction& action, const std::string& task, const std::string& host) {
  const std::string want = normalize_sysctl_value(action.value());
  const std::string key = action.key();
  return Fact{key + " at boot", want + " from " + action.file(), task, {{host, "sysctl"}},
              [want, key](HostContext& h) -> Result<Observation> {
                auto sources = sysctl_sources(h.files(), key);
                if (!sources) return sources.error();
                if (sources->empty()) return Observation{false, "not set in any file", "the kernel default applies at boot"};
                const auto& last = sources->back();
                bool good = last.value == want;
                return Observation{good, last.value + " from " + last.path,
                                   good ? "" : "'" + last.path + "' is applied last and sets " + key + " = " + last.value};
              }};
}

std::unique_ptr<Action> make_sysctl_action(Params& params) {
  auto key = params.string("name");
  auto value = params.string("value");
  auto file = params.string("file", std::string(kSysctlFile));
  params.finish();
  if (!key.empty() && (key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.-") != std::string::npos ||
                       key.find("..") != std::string::npos || key[0] == '.'))
    params.problem("name", "'" + key + "' is not a sysctl key like net.ipv4.ip_forward");
  if (value.find('\n') != std::string::npos) params.problem("value", "must be one line");
  if (file.rfind("/etc/sysctl.d/", 0) != 0 || !file.ends_with(".conf") || file.find("..") != std::string::npos)
    params.problem("file", "'" + file + "' must be a .conf file in /etc/sysctl.d/ (never /etc/sysctl.conf)");
  if (!params.ok()) return nullptr;
  return std::make_unique<SysctlAction>(key, value, file);
}

}  // namespace rs::agent
