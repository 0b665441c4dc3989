// The container runtimes beside docker trust the private registry, each the way it reads
// registries, and only where it is installed:
//
// containerd_registry: containerd (what Kubernetes' CRI, nerdctl and `ctr --hosts-dir` pull
//   through) reads /etc/containerd/certs.d/HOST:PORT/hosts.toml: plain HTTP for an insecure
//   registry, https with the CA beside it for a TLS one. Its CRI plugin reads that
//   directory only when config.toml names it (`config_path`); that line is added when
//   missing and containerd restarted once (KillMode=process: the containers' shims, and so
//   the containers, keep running). A config_path of the host's own is kept and used.
// containers_registries: podman, skopeo, buildah and CRI-O (containers/image) read
//   /etc/containers/registries.conf.d/: one drop-in listing the insecure registries
//   (`insecure = true`), and the CA of a TLS one as /etc/containers/certs.d/HOST:PORT/ca.crt.
//   Read on every pull: nothing to restart.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/docker_registry_ca_module.hpp"
#include "agent/modules/params.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

// Where containerd's CRI plugin reads hosts.toml files, and config.toml rewritten to say so.
struct ContainerdConfigPlan {
  std::string hosts_dir;
  std::optional<std::string> rewritten;  // nullopt: config.toml is right as it is
};

// Reads config.toml (nullopt: there is none) as far as config_path is concerned: a line
// scanner over TOML's tables, bounded by the file's size. A config_path already set wins;
// one missing is inserted under the registry table (or the table appended). Refuses what
// it cannot edit safely: a dotted `registry.config_path` key, or `registry.mirrors`, which
// containerd rejects beside config_path.
Result<ContainerdConfigPlan> plan_containerd_config(const std::optional<std::string>& text,
                                                    const std::string& default_dir = "/etc/containerd/certs.d");

// hosts.toml for one registry: plain HTTP, or https trusting `ca_path` (a file on the host).
std::string render_hosts_toml(const std::string& address, const std::string& ca_path = {});

// The registries.conf.d drop-in: one [[registry]] with insecure = true per address.
std::string render_registries_conf(const std::vector<std::string>& insecure);

struct RuntimeRegistries {
  std::vector<std::string> insecure;  // "host:port", plain HTTP
  std::vector<TrustedRegistry> tls;   // with their CA
};

class ContainerdRegistryAction : public Action {
 public:
  explicit ContainerdRegistryAction(RuntimeRegistries registries) : registries_(std::move(registries)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;

  static constexpr const char* kUnit = "containerd.service";
  static constexpr const char* kConfig = "/etc/containerd/config.toml";

 private:
  RuntimeRegistries registries_;
};

class ContainersRegistriesAction : public Action {
 public:
  explicit ContainersRegistriesAction(RuntimeRegistries registries) : registries_(std::move(registries)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;

  static constexpr const char* kDropin = "/etc/containers/registries.conf.d/50-registry-setup.conf";

 private:
  RuntimeRegistries registries_;
};

std::unique_ptr<Action> make_containerd_registry_action(Params& params);
std::unique_ptr<Action> make_containers_registries_action(Params& params);

}  // namespace rs::agent
