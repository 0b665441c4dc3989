// The facts verify observes across hosts (each module's own facts are beside its check),
// and the pure helpers they use.
#pragma once

#include "agent/modules/fact.hpp"
#include "agent/run/registry_vars.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

// The repository the end-to-end probe pushes to (and deletes from) every registry.
inline constexpr const char* kProbeRepository = "registry-setup-verify/probe";

// From this host, GET /v2/ over plain HTTP, or over TLS trusting the CA docker trusts.
Fact registry_reach_fact(const RegistryEndpoint& registry, std::vector<Repairer> repaired_by);

// The user this host's docker logs in as (password from a file on the control machine).
struct ProbeLogin {
  std::string user;
  std::string password_file;
};
// From this host: a tiny generated image pushed to REGISTRY, pulled back, digests compared,
// deleted from the registry (manifest by digest) and locally. A registry with users is
// reached as `login`.
Fact push_pull_fact(const RegistryEndpoint& registry, const std::string& host, std::vector<Repairer> repaired_by,
                    ProbeLogin login = {});

// A ustar archive holding one regular file.
std::string single_file_tar(const std::string& name, const std::string& content);
// "sha256:..." from `docker push` ("TAG: digest: sha256:... size: N") or `docker pull`
// ("Digest: sha256:...") output.
std::optional<std::string> output_digest(const std::string& output);

}  // namespace rs::agent
