#include "registry/paths.hpp"

namespace rs::registry::paths {

std::string blob_dir(const Digest& d) {
  return kRoot + "/blobs/" + std::string(d.algorithm_name()) + "/" + d.hex.substr(0, 2) + "/" + d.hex;
}
std::string blob_data(const Digest& d) { return blob_dir(d) + "/data"; }
std::string repositories() { return kRoot + "/repositories"; }
std::string repository(const std::string& name) { return repositories() + "/" + name; }

std::string layer_link(const std::string& name, const Digest& d) {
  return repository(name) + "/_layers/" + std::string(d.algorithm_name()) + "/" + d.hex + "/link";
}
std::string revisions_dir(const std::string& name, DigestAlgorithm algorithm) {
  return repository(name) + "/_manifests/revisions/" +
         (algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512");
}
std::string revision_link(const std::string& name, const Digest& d) {
  return revisions_dir(name, d.algorithm) + "/" + d.hex + "/link";
}
std::string tags_dir(const std::string& name) { return repository(name) + "/_manifests/tags"; }
std::string tag_dir(const std::string& name, const std::string& tag) { return tags_dir(name) + "/" + tag; }
std::string tag_current_link(const std::string& name, const std::string& tag) {
  return tag_dir(name, tag) + "/current/link";
}
std::string tag_index_link(const std::string& name, const std::string& tag, const Digest& d) {
  return tag_dir(name, tag) + "/index/" + std::string(d.algorithm_name()) + "/" + d.hex + "/link";
}
std::string uploads_dir(const std::string& name) { return repository(name) + "/_uploads"; }
std::string upload_dir(const std::string& name, const std::string& uuid) {
  return uploads_dir(name) + "/" + uuid;
}
std::string upload_data(const std::string& name, const std::string& uuid) {
  return upload_dir(name, uuid) + "/data";
}
std::string upload_started_at(const std::string& name, const std::string& uuid) {
  return upload_dir(name, uuid) + "/startedat";
}

namespace {
std::string referrers_root(const std::string& name) { return repository(name) + "/_referrers"; }
}  // namespace

std::string referrers_complete(const std::string& name) { return referrers_root(name) + "/complete"; }
std::string referrers_dir(const std::string& name, const Digest& subject, DigestAlgorithm algorithm) {
  return referrers_root(name) + "/" + std::string(subject.algorithm_name()) + "/" + subject.hex + "/" +
         (algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512");
}
std::string referrer_descriptor(const std::string& name, const Digest& subject, const Digest& referrer) {
  return referrers_dir(name, subject, referrer.algorithm) + "/" + referrer.hex + "/descriptor";
}

}  // namespace rs::registry::paths
