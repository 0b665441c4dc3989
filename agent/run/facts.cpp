#include "agent/run/facts.hpp"

#include "agent/host/http_probe.hpp"

#include <arpa/inet.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

namespace rs::agent {
namespace {

using namespace std::chrono_literals;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// Runs a tool on the host; a tool that is not there is an error naming it and the host.
Result<CommandResult> run_on(HostContext& host, const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                             const std::string& input = {}) {
  auto r = host.commands().run(argv, input, timeout);
  if ((!r && r.error().code == Errc::not_found) || (r && r->exit_code == 127))
    return make_error(Errc::not_found, "'" + argv.front() + "' is not installed on '" + host.name() + "'");
  if (!r) return r.error();
  return r;
}

// GET http://REGISTRY/v2/ run on the host itself (its network, its routes).
Result<Observation> get_v2(HostContext& host, const std::string& registry) {
  const std::string url = "http://" + registry + "/v2/";
  auto r = run_on(host, {"curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-D", "-", url}, 20s);
  if (!r) return r.error();
  if (r->exit_code != 0) return Observation{false, "no answer", "GET " + url + ": " + last_line(r->err)};
  auto judged = check_v2_head(r->out, "GET " + url);
  if (!judged) return Observation{false, last_line(r->out.substr(0, r->out.find('\n'))), judged.error().message};
  return Observation{true, *judged + ", Docker-Distribution-API-Version", ""};
}

std::string proc_path(const std::string& key) {
  std::string p = key;
  std::replace(p.begin(), p.end(), '.', '/');
  return "/proc/sys/" + p;
}

std::optional<std::uint32_t> ipv4(const std::string& text) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

bool in_cidr(std::uint32_t ip, const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  auto net = ipv4(cidr.substr(0, slash));
  int bits = -1;
  try {
    bits = std::stoi(cidr.substr(slash + 1));
  } catch (...) {
    return false;
  }
  if (!net || bits < 0 || bits > 32) return false;
  std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (ip & mask) == (*net & mask);
}

std::string random_hex(int n) {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += digits[gen() % 16];
  return s;
}

}  // namespace

std::string InsecureRegistries::str() const {
  auto all = names;
  all.insert(all.end(), cidrs.begin(), cidrs.end());
  return all.empty() ? "none" : join(all);
}

Result<InsecureRegistries> parse_docker_info(const std::string& json) {
  try {
    auto j = nlohmann::json::parse(json);
    if (!j.is_object() || !j.contains("RegistryConfig") || !j["RegistryConfig"].is_object())
      return make_error(Errc::invalid_argument, "docker info has no RegistryConfig");
    const auto& rc = j["RegistryConfig"];
    InsecureRegistries out;
    if (rc.contains("IndexConfigs") && rc["IndexConfigs"].is_object())
      for (const auto& [name, index] : rc["IndexConfigs"].items())
        if (index.is_object() && index.value("Secure", true) == false) out.names.push_back(name);
    if (rc.contains("InsecureRegistryCIDRs") && rc["InsecureRegistryCIDRs"].is_array())
      for (const auto& c : rc["InsecureRegistryCIDRs"])
        if (c.is_string()) out.cidrs.push_back(c.get<std::string>());
    return out;
  } catch (const nlohmann::json::exception& e) {
    return make_error(Errc::invalid_argument, std::string("docker info is not JSON: ") + e.what());
  }
}

bool is_registry_address(const std::string& registry) {
  return registry.find('/') == std::string::npos && registry.find(':') != std::string::npos;
}

bool trusts(const InsecureRegistries& insecure, const std::string& registry) {
  auto listed = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (listed(insecure.names, registry) || listed(insecure.cidrs, registry)) return true;
  if (!is_registry_address(registry)) return false;
  auto ip = ipv4(registry.substr(0, registry.rfind(':')));
  if (!ip) return false;
  return std::any_of(insecure.cidrs.begin(), insecure.cidrs.end(), [&](const auto& c) { return in_cidr(*ip, c); });
}

std::string single_file_tar(const std::string& name, const std::string& content) {
  std::string header(512, '\0');
  auto put = [&](std::size_t offset, const std::string& value) { header.replace(offset, value.size(), value); };
  auto octal = [](std::size_t value, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*zo", width - 1, value);
    return std::string(buf) + '\0';
  };
  put(0, name.substr(0, 99));
  put(100, octal(0644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(content.size(), 12));
  put(136, octal(1700000000, 12));
  put(148, std::string(8, ' '));
  header[156] = '0';
  put(257, std::string("ustar\0", 6));
  put(263, "00");
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  put(148, std::string(chk, 6) + '\0' + ' ');
  std::string body = content + std::string((512 - content.size() % 512) % 512, '\0');
  return header + body + std::string(1024, '\0');
}

std::optional<std::string> output_digest(const std::string& output) {
  std::string lower = output;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  auto at = lower.find("digest: sha256:");
  if (at == std::string::npos) return std::nullopt;
  auto hex = lower.substr(at + 15, 64);
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  return "sha256:" + hex;
}

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "(no output)";
  auto begin = text.find_last_of("\r\n", end);
  return text.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
}

Fact sysctl_live_fact(const SysctlAction& action, const std::string& task, const std::string& host) {
  const std::string want = normalize_sysctl_value(action.value());
  const std::string key = action.key();
  return Fact{key + " live", want, task, {{host, "sysctl"}}, [want, key](HostContext& h) -> Result<Observation> {
                auto live = h.files().read(proc_path(key));
                if (!live) return live.error();
                if (!*live) return make_error(Errc::not_found, "no such kernel parameter (" + proc_path(key) + ")");
                auto now = normalize_sysctl_value(**live);
                return Observation{now == want, now, now == want ? "" : proc_path(key) + " is " + now};
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

Fact docker_insecure_fact(const DockerRegistryConfig& config, const std::string& task, const std::string& host) {
  auto registries = config.registries;
  const std::string unit = config.unit;
  return Fact{"dockerd insecure registries (GET /info)", join(registries), task, {{host, "docker_insecure_registry"}},
              [registries, unit](HostContext& h) -> Result<Observation> {
                auto r = run_on(h, {"curl", "-sS", "--max-time", "10", "--unix-socket", kDockerSocket,
                                    "http://localhost/info"}, 30s);
                // Without curl on the host: the docker CLI asks the same endpoint.
                if (!r && r.error().code == Errc::not_found)
                  r = run_on(h, {"docker", "info", "--format", "{{json .}}"}, 30s);
                if (!r) return r.error();
                if (r->exit_code != 0)
                  return Observation{false, "no answer", "GET /info on " + std::string(kDockerSocket) + ": " + last_line(r->err)};
                auto info = parse_docker_info(r->out);
                if (!info) return info.error();
                std::vector<std::string> missing;
                for (const auto& reg : registries)
                  if (!trusts(*info, reg)) missing.push_back(reg);
                if (missing.empty()) return Observation{true, info->str(), ""};
                return Observation{false, info->str(),
                                   "the running dockerd does not trust " + join(missing) + " (restart " + unit +
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
              {{host, "registry_service"}}, [registry](HostContext& h) { return get_v2(h, registry); }};
}

Fact registry_storage_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host) {
  const std::string root = config.root;
  // The unit creates it when it starts (ExecStartPre): a start by apply repairs an absent one.
  return Fact{"storage " + root, "directory, writable", task, {{host, "registry_service"}}, [root](HostContext& h) -> Result<Observation> {
                auto dir = run_on(h, {"test", "-d", root}, 15s);
                if (!dir) return dir.error();
                if (dir->exit_code != 0) return Observation{false, "absent", "'" + root + "' is not a directory"};
                auto writable = run_on(h, {"test", "-w", root}, 15s);
                if (!writable) return writable.error();
                if (writable->exit_code != 0)
                  return Observation{false, "directory, not writable", "'" + root + "' is not writable (read-only mount?)"};
                return Observation{true, "directory, writable", ""};
              }};
}

Fact registry_reach_fact(const std::string& registry, std::vector<Repairer> repaired_by) {
  return Fact{"reach http://" + registry + "/v2/", "200/401 + Docker-Distribution-API-Version", "",
              std::move(repaired_by), [registry](HostContext& h) { return get_v2(h, registry); }};
}

Fact push_pull_fact(const std::string& registry, const std::string& host, std::vector<Repairer> repaired_by) {
  return Fact{"push/pull/delete via " + registry, "same digest back, deleted", "", std::move(repaired_by),
              [registry, host](HostContext& h) -> Result<Observation> {
                std::string tag;
                for (char c : host) tag += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
                tag = tag.substr(0, 60) + "-" + random_hex(8);
                const std::string ref = registry + "/" + kProbeRepository + ":" + tag;
                auto start = std::chrono::steady_clock::now();
                std::optional<std::string> pushed_digest;
                // Leaves nothing behind: the local image, and the manifest once it was pushed.
                auto failed = [&](const std::string& step, const std::string& why) {
                  (void)h.commands().run({"docker", "rmi", "-f", ref}, {}, 30s);
                  if (pushed_digest)
                    (void)h.commands().run({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-X", "DELETE",
                                            "http://" + registry + "/v2/" + kProbeRepository + "/manifests/" + *pushed_digest},
                                           {}, 30s);
                  return Observation{false, "failed at " + step, step + " " + ref + ": " + why};
                };
                auto docker = [&](const std::vector<std::string>& argv, const std::string& input = {}) {
                  return run_on(h, argv, 120s, input);
                };
                auto tar = single_file_tar("registry-setup-verify", "registry-setup verify probe " + tag + "\n");
                auto imported = docker({"docker", "import", "-", ref}, tar);
                if (!imported) return imported.error();
                if (imported->exit_code != 0) return failed("docker import", last_line(imported->err));
                auto pushed = docker({"docker", "push", ref});
                if (!pushed) return pushed.error();
                if (pushed->exit_code != 0) return failed("docker push", last_line(pushed->err + "\n" + pushed->out));
                pushed_digest = output_digest(pushed->out);
                if (!pushed_digest) return failed("docker push", "no digest in its output: " + last_line(pushed->out));
                // Gone locally, so the pull really transfers it.
                auto removed = docker({"docker", "rmi", ref});
                if (!removed) return removed.error();
                if (removed->exit_code != 0) return failed("docker rmi", last_line(removed->err));
                auto pulled = docker({"docker", "pull", ref});
                if (!pulled) return pulled.error();
                if (pulled->exit_code != 0) return failed("docker pull", last_line(pulled->err + "\n" + pulled->out));
                auto pulled_digest = output_digest(pulled->out);
                if (pulled_digest != pushed_digest)
                  return failed("digest comparison", "pushed " + *pushed_digest + ", pulled " + pulled_digest.value_or("none"));
                const std::string url = "http://" + registry + "/v2/" + kProbeRepository + "/manifests/" + *pushed_digest;
                auto deleted = run_on(h, {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                                          "DELETE", url}, 30s);
                if (!deleted) return deleted.error();
                if (deleted->exit_code != 0 || deleted->out != "202")
                  return failed("DELETE manifest", deleted->exit_code != 0 ? last_line(deleted->err)
                                                                           : "answered " + deleted->out + ", not 202");
                auto cleaned = docker({"docker", "rmi", ref});
                if (!cleaned) return cleaned.error();
                if (cleaned->exit_code != 0) return failed("docker rmi", last_line(cleaned->err));
                auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
                char secs[32];
                std::snprintf(secs, sizeof secs, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
                return Observation{true, pushed_digest->substr(0, 19) + "... back, deleted (" + secs + ")", ""};
              }};
}

}  // namespace rs::agent
