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
    auto pem = trusted_ca_pem(host, r);
    if (!pem) return pem.error();
    const std::string path = docker_ca_path(r.address);
    auto have = host.files().read(path);
    if (!have) return have.error();
    if (!*have || **have != *pem) diff.files.push_back(FileChange{path, *have, *pem});
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

bool plain_registry_address(const std::string& address) {
  return !address.empty() && address.find_first_of("/\\ \t\r\n\"'") == std::string::npos &&
         address.find("..") == std::string::npos;
}

Result<std::string> trusted_ca_pem(HostContext& host, const TrustedRegistry& registry) {
  if (!registry.ca_dir.empty()) {
    auto ca = ensure_certificate_authority(registry.ca_dir);
    if (!ca) return ca.error().with_context("registry_tls_dir");
    return ca->certificate_pem;
  }
  return control_file(host.control(), registry.ca, "CA of " + registry.address);
}

std::vector<TrustedRegistry> trusted_registries_param(Params& params, const YAML::Node& node, const std::string& key) {
  std::vector<TrustedRegistry> list;
  if (!node.IsNull() && !node.IsSequence()) params.problem(key, "must be a list of {address, ca or ca_dir}");
  for (std::size_t i = 0; node.IsSequence() && i < node.size(); ++i) {
    const YAML::Node r = node[i];
    auto text = [&](const char* k) { return r.IsMap() && r[k] && r[k].IsScalar() ? r[k].as<std::string>() : std::string(); };
    TrustedRegistry t{text("address"), text("ca"), text("ca_dir")};
    const std::string at = key + "[" + std::to_string(i) + "]";
    if (!plain_registry_address(t.address)) params.problem(at, "address '" + t.address + "' is not host:port");
    if (t.ca.empty() == t.ca_dir.empty()) params.problem(at, "needs exactly one of ca (a file) and ca_dir");
    list.push_back(std::move(t));
  }
  return list;
}

std::unique_ptr<Action> make_docker_registry_ca_action(Params& params) {
  const YAML::Node node = params.node("registries");
  const auto method = params.choice("insecure_registry_method", {"dropin", "daemon-json"}, std::string("dropin"));
  params.finish();
  auto list = trusted_registries_param(params, node, "registries");
  if (!params.ok()) return nullptr;
  return std::make_unique<DockerRegistryCaAction>(std::move(list), method);
}

}  // namespace rs::agent
