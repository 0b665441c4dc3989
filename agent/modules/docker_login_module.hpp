// docker_login: docker on the host logs in to the registries, as `docker login` would leave
// it: an "auths" entry per registry in the client's config.json (mode 0600, every other key
// kept). The password comes from a file on the control machine. Without a user: nothing.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/params.hpp"

namespace rs::agent {

struct DockerLoginConfig {
  std::vector<std::string> registries;
  std::string user;
  std::string password_file;
  std::string config = "/root/.docker/config.json";
};

class DockerLoginAction : public Action {
 public:
  explicit DockerLoginAction(DockerLoginConfig config) : config_(std::move(config)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;

 private:
  DockerLoginConfig config_;
};

std::unique_ptr<Action> make_docker_login_action(Params& params);

// What `docker login` stores for user:password ("auth": base64 of both).
std::string docker_auth_value(const std::string& user, const std::string& password);

}  // namespace rs::agent
