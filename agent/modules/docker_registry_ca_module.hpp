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
