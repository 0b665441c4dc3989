// The facts verify observes across hosts (each module's own facts are beside its check),
// and the pure helpers they use.
#pragma once

#include "agent/modules/fact.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

// The repository the end-to-end probe pushes to (and deletes from) every registry.
inline constexpr const char* kProbeRepository = "registry-setup-verify/probe";

// From this host, GET http://REGISTRY/v2/ over plain HTTP.
Fact registry_reach_fact(const std::string& registry, std::vector<Repairer> repaired_by);
// From this host: a tiny generated image pushed to REGISTRY, pulled back, digests compared,
// deleted from the registry (manifest by digest) and locally.
Fact push_pull_fact(const std::string& registry, const std::string& host, std::vector<Repairer> repaired_by);

// A ustar archive holding one regular file.
std::string single_file_tar(const std::string& name, const std::string& content);
// "sha256:..." from `docker push` ("TAG: digest: sha256:... size: N") or `docker pull`
// ("Digest: sha256:...") output.
std::optional<std::string> output_digest(const std::string& output);

}  // namespace rs::agent
