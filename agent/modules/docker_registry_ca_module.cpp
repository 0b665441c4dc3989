#include "agent/modules/docker_registry_ca_module.hpp"

#include "agent/modules/host_probes.hpp"
#include "agent/modules/registry_service_module.hpp"
#include "agent/modules/registry_tls.hpp"

namespace rs::agent {

namespace {

DockerRegistryConfig forget_config(const std::vector<TrustedRegistry>& registries, std::string method) {
  DockerRegistryConfig c;
  for (const auto& r : registries) c.remove.push_back(r.address);
  c.method = std::move(method);
  c.dropin = "/etc/systemd/system/" + c.unit + ".d/90-registry-setup.conf";
  return c;
}

}  // namespace

DockerRegistryCaAction::DockerRegistryCaAction(std::vector<TrustedRegistry> registries, std::string insecure_method)
    : registries_(std::move(registries)), forget_(forget_config(registries_, std::move(insecure_method))) {}

std::string DockerRegistryCaAction::summary() const {
  if (registries_.empty()) return "no TLS registries";
  std::vector<std::string> list;
  for (const auto& r : registries_) list.push_back(r.address);
  return "CA of " + join_list(list) + " in /etc/docker/certs.d";
}

std::vector<std::string> DockerRegistryCaAction::trusted_registries() const {
  std::vector<std::string> out;
  for (const auto& r : registries_) out.push_back(r.address);
  return out;
}

Result<Diff> DockerRegistryCaAction::check(HostContext& host) {
  if (registries_.empty()) return Diff{};
  auto forgotten = forget_.check(host);
  if (!forgotten) return forgotten.error();
  // Only files: a drop-in loaded by nobody yet is docker's next restart's business.
  Diff diff;
  diff.files = std::move(forgotten->files);
  diff.warnings = std::move(forgotten->warnings);
  for (const auto& r : registries_) {
    std::string pem;
    if (!r.ca_dir.empty()) {
      auto ca = ensure_certificate_authority(r.ca_dir);
      if (!ca) return ca.error().with_context("registry_tls_dir");
      pem = ca->certificate_pem;
    } else {
      auto text = control_file(host.control(), r.ca, "CA of " + r.address);
      if (!text) return text.error();
      pem = std::move(*text);
    }
    const std::string path = docker_ca_path(r.address);
    auto have = host.files().read(path);
    if (!have) return have.error();
    if (!*have || **have != pem) diff.files.push_back(FileChange{path, *have, pem});
  }
  return diff;
}

Result<void> DockerRegistryCaAction::apply(HostContext& host, const Diff& diff) {
  for (const auto& f : diff.files)
    if (auto r = host.write_file(f.path, f.after, 0644); !r) return r.error();
  // systemd reads the drop-in without its flags; docker keeps running.
  if (host.unit_files_changed())
    if (auto r = host.daemon_reload(); !r) return r;
  return ok();
}

std::unique_ptr<Action> make_docker_registry_ca_action(Params& params) {
  std::vector<TrustedRegistry> list;
  const YAML::Node node = params.node("registries");
  const auto method = params.choice("insecure_registry_method", {"dropin", "daemon-json"}, std::string("dropin"));
  params.finish();
  if (!node.IsNull() && !node.IsSequence()) params.problem("registries", "must be a list of {address, ca or ca_dir}");
  for (std::size_t i = 0; node.IsSequence() && i < node.size(); ++i) {
    const YAML::Node r = node[i];
    auto text = [&](const char* k) { return r.IsMap() && r[k] && r[k].IsScalar() ? r[k].as<std::string>() : std::string(); };
    TrustedRegistry t{text("address"), text("ca"), text("ca_dir")};
    const std::string key = "registries[" + std::to_string(i) + "]";
    if (t.address.empty() || t.address.find_first_of("/ \t\n") != std::string::npos || t.address.find("..") != std::string::npos)
      params.problem(key, "address '" + t.address + "' is not host:port");
    if (t.ca.empty() == t.ca_dir.empty()) params.problem(key, "needs exactly one of ca (a file) and ca_dir");
    list.push_back(std::move(t));
  }
  if (!params.ok()) return nullptr;
  return std::make_unique<DockerRegistryCaAction>(std::move(list), method);
}

}  // namespace rs::agent
