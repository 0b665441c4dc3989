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
//       _referrers/<alg>/<hex>/<alg>/<hex>/descriptor    subject -> one referrer of it
//       _referrers/complete                              the index holds every revision
//
// A link file holds exactly "<alg>:<hex>", no newline. Names, tags, digests and upload
// ids reach these functions only after validation (see names.hpp, core/digest.hpp).
//
// _referrers is ours alone, the subject index that GET /v2/<name>/referrers/<subject>
// reads (registry:2 skips a repository's directories it does not know, and so does our
// catalog). A descriptor file holds the OCI descriptor the listing shows for that referrer
// (mediaType, digest, size, artifactType, annotations), so a listing never reads the
// referrer manifests. It is written before the referrer's revision link and removed after
// it; a listing skips a descriptor whose revision link is absent (a PUT not finished, a
// manifest deleted, also by a registry that does not know the index). `complete` (empty)
// is written once a scan of every revision the repository had has entered them: a
// repository without it (written before the index existed, or by registry:2) is scanned on
// its first listing. A registry:2 writing the root afterwards leaves its manifests out of
// the index; removing `complete` has the next listing scan again.
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
std::string referrers_complete(const std::string& name);
std::string referrers_dir(const std::string& name, const Digest& subject, DigestAlgorithm algorithm);
std::string referrer_descriptor(const std::string& name, const Digest& subject, const Digest& referrer);

}  // namespace rs::registry::paths
