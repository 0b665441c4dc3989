// docker_registry_ca: every docker host trusts the CA of each TLS registry, as docker reads
// it: /etc/docker/certs.d/HOST:PORT/ca.crt (read per connection: no restart). The CA comes
// from the control machine: a file, or the authority registry-setup keeps there (made on
// first use). The insecure flag registry-setup once gave such a registry leaves the
// drop-in (or daemon.json) too, with a daemon-reload and without a docker restart: the flag
// the running dockerd still has does no harm (docker tries TLS first) and goes with its
// next restart.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/docker_insecure_registry_module.hpp"
#include "agent/modules/params.hpp"

namespace rs::agent {

struct TrustedRegistry {
  std::string address;  // "host:port"
  std::string ca;       // a CA file on the control machine, or
  std::string ca_dir;   // the directory of registry-setup's own authority there
};

// The CA each TLS registry's clients trust, as PEM: the file, or the authority's
// certificate (made on first use).
Result<std::string> trusted_ca_pem(HostContext& host, const TrustedRegistry& registry);

// The `registries` argument of docker_registry_ca (and the `tls` one of the other
// runtimes' modules): a list of {address, ca | ca_dir}; problems go to `params`.
std::vector<TrustedRegistry> trusted_registries_param(Params& params, const YAML::Node& node, const std::string& key);

// A registry address as the modules write it into paths and files: host:port, no blanks,
// quotes, slashes or "..".
bool plain_registry_address(const std::string& address);

class DockerRegistryCaAction : public Action {
 public:
  explicit DockerRegistryCaAction(std::vector<TrustedRegistry> registries, std::string insecure_method = "dropin");

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;
  std::vector<std::string> trusted_registries() const override;

 private:
  std::vector<TrustedRegistry> registries_;
  DockerInsecureRegistryAction forget_;  // takes their insecure flags away
};

std::unique_ptr<Action> make_docker_registry_ca_action(Params& params);

}  // namespace rs::agent
