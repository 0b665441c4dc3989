// The on-disk layout, identical to registry:2's filesystem driver, so that a data
// directory is interchangeable between the two. All paths are driver paths, rooted at
// the storage root ("<root>/docker/registry/v2/..." on disk).
//
//   /docker/registry/v2/
//     blobs/<alg>/<hex[0:2]>/<hex>/data                  layers, configs and manifests
//     repositories/<name>/                               <name> may hold '/'
//       _layers/<alg>/<hex>/link                         blob linked into the repository
//       _manifests/revisions/<alg>/<hex>/link            manifest revision
//       _manifests/tags/<tag>/current/link               tag -> manifest digest
//       _manifests/tags/<tag>/index/<alg>/<hex>/link     every digest the tag has had
//       _uploads/<uuid>/data                             upload in progress
//       _uploads/<uuid>/startedat                        RFC 3339 start time
//
// A link file holds exactly "<alg>:<hex>", no newline. Names, tags, digests and upload
// ids reach these functions only after validation (see names.hpp, core/digest.hpp).
#pragma once

#include "core/digest.hpp"

#include <string>

namespace rs::registry::paths {

inline const std::string kRoot = "/docker/registry/v2";

std::string blob_dir(const Digest& d);
std::string blob_data(const Digest& d);
std::string repositories();
std::string repository(const std::string& name);
std::string layer_link(const std::string& name, const Digest& d);
std::string revision_link(const std::string& name, const Digest& d);
std::string revisions_dir(const std::string& name, DigestAlgorithm algorithm);
std::string tags_dir(const std::string& name);
std::string tag_dir(const std::string& name, const std::string& tag);
std::string tag_current_link(const std::string& name, const std::string& tag);
std::string tag_index_link(const std::string& name, const std::string& tag, const Digest& d);
std::string uploads_dir(const std::string& name);
std::string upload_dir(const std::string& name, const std::string& uuid);
std::string upload_data(const std::string& name, const std::string& uuid);
std::string upload_started_at(const std::string& name, const std::string& uuid);

}  // namespace rs::registry::paths
