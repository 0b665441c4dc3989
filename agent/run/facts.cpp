#include "agent/run/facts.hpp"

#include "agent/modules/host_probes.hpp"
#include "agent/modules/registry_service_module.hpp"
#include "core/random.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

namespace rs::agent {

using namespace std::chrono_literals;

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

namespace {

std::string scheme(const RegistryEndpoint& r) { return r.tls ? "https://" : "http://"; }

// curl's arguments to reach the registry as docker does: its CA, and the login's password
// passed on stdin (never on a command line) as a curl config line.
struct CurlAccess {
  std::vector<std::string> args;
  std::string input;
};

Result<CurlAccess> curl_access(HostContext& h, const RegistryEndpoint& r, const ProbeLogin& login) {
  CurlAccess a;
  if (r.tls) a.args = {"--cacert", docker_ca_path(r.address)};
  if (!r.auth || login.user.empty()) return a;
  auto password = control_secret(h.control(), login.password_file, "registry_login_password_file");
  if (!password) return password.error();
  std::string quoted;
  for (char c : login.user + ":" + *password) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  a.args.insert(a.args.end(), {"--config", "-"});
  a.input = "user = \"" + quoted + "\"\n";
  return a;
}

}  // namespace

Fact registry_reach_fact(const RegistryEndpoint& registry, std::vector<Repairer> repaired_by) {
  const std::string ca = registry.tls ? docker_ca_path(registry.address) : "";
  const std::string address = registry.address;
  return Fact{"reach " + scheme(registry) + address + "/v2/", "200/401 + Docker-Distribution-API-Version", "",
              std::move(repaired_by), [address, ca](HostContext& h) { return get_v2_from(h, address, ca); }};
}

namespace {

// A tag of its own per host and run: "host-a-3f9c01d2".
std::string probe_tag(const std::string& host) {
  std::string tag;
  for (char c : host) tag += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
  return tag.substr(0, 60) + "-" + random_hex(4);
}

std::string probe_manifest_url(const RegistryEndpoint& registry, const std::string& digest) {
  return scheme(registry) + registry.address + "/v2/" + kProbeRepository + "/manifests/" + digest;
}

// One step of the probe: its output when it worked, else why not (the tool's own last line;
// docker push and pull say it on either stream).
struct Step {
  bool ok = false;
  std::string out;
  std::string why;
};

Result<Step> run_step(HostContext& h, const std::vector<std::string>& argv, const std::string& input = {},
                      bool why_on_both_streams = false) {
  auto r = run_tool(h, argv, 120s, input);
  if (!r) return r.error();
  if (r->exit_code == 0) return Step{true, r->out, ""};
  return Step{false, r->out, last_line(why_on_both_streams ? r->err + "\n" + r->out : r->err)};
}

// Leaves nothing behind after a failed step: the local image, and the manifest once pushed.
// The DELETE of the probe's manifest by digest, as the login when the registry has users.
std::vector<std::string> delete_argv(const RegistryEndpoint& registry, const CurlAccess& access, const std::string& digest) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE"};
  argv.insert(argv.end(), access.args.begin(), access.args.end());
  argv.push_back(probe_manifest_url(registry, digest));
  return argv;
}

void clean_up_probe(HostContext& h, const RegistryEndpoint& registry, const CurlAccess& access, const std::string& ref,
                    const std::optional<std::string>& pushed_digest) {
  (void)h.commands().run({"docker", "rmi", "-f", ref}, {}, 30s);
  if (pushed_digest) (void)h.commands().run(delete_argv(registry, access, *pushed_digest), access.input, 30s);
}

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return secs;
}

// import a one-file image, push, remove, pull, compare digests, delete the manifest, remove.
Result<Observation> probe_push_pull(HostContext& h, const RegistryEndpoint& registry, const std::string& host,
                                    const ProbeLogin& login) {
  const std::string tag = probe_tag(host);
  const std::string ref = registry.address + "/" + kProbeRepository + ":" + tag;
  const auto start = std::chrono::steady_clock::now();
  auto access = curl_access(h, registry, login);
  if (!access) return access.error();
  std::optional<std::string> pushed_digest;
  auto failed = [&](const std::string& step, const std::string& why) {
    clean_up_probe(h, registry, *access, ref, pushed_digest);
    return Observation{false, "failed at " + step, step + " " + ref + ": " + why};
  };

  auto tar = single_file_tar("registry-setup-verify", "registry-setup verify probe " + tag + "\n");
  auto imported = run_step(h, {"docker", "import", "-", ref}, tar);
  if (!imported) return imported.error();
  if (!imported->ok) return failed("docker import", imported->why);
  auto pushed = run_step(h, {"docker", "push", ref}, {}, true);
  if (!pushed) return pushed.error();
  if (!pushed->ok) return failed("docker push", pushed->why);
  pushed_digest = output_digest(pushed->out);
  if (!pushed_digest) return failed("docker push", "no digest in its output: " + last_line(pushed->out));
  // Gone locally, so the pull really transfers it.
  auto removed = run_step(h, {"docker", "rmi", ref});
  if (!removed) return removed.error();
  if (!removed->ok) return failed("docker rmi", removed->why);
  auto pulled = run_step(h, {"docker", "pull", ref}, {}, true);
  if (!pulled) return pulled.error();
  if (!pulled->ok) return failed("docker pull", pulled->why);
  auto pulled_digest = output_digest(pulled->out);
  if (pulled_digest != pushed_digest)
    return failed("digest comparison", "pushed " + *pushed_digest + ", pulled " + pulled_digest.value_or("none"));

  auto deleted = run_tool(h, delete_argv(registry, *access, *pushed_digest), 30s, access->input);
  if (!deleted) return deleted.error();
  if (deleted->exit_code != 0 || deleted->out != "202")
    return failed("DELETE manifest",
                  deleted->exit_code != 0 ? last_line(deleted->err) : "answered " + deleted->out + ", not 202");
  auto cleaned = run_step(h, {"docker", "rmi", ref});
  if (!cleaned) return cleaned.error();
  if (!cleaned->ok) return failed("docker rmi", cleaned->why);
  return Observation{true, pushed_digest->substr(0, 19) + "... back, deleted (" + seconds_since(start) + ")", ""};
}

}  // namespace

Fact push_pull_fact(const RegistryEndpoint& registry, const std::string& host, std::vector<Repairer> repaired_by,
                    ProbeLogin login) {
  return Fact{"push/pull/delete via " + registry.address, "same digest back, deleted", "", std::move(repaired_by),
              [registry, host, login](HostContext& h) { return probe_push_pull(h, registry, host, login); }};
}

}  // namespace rs::agent
