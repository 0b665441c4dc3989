// Image manifests and indexes: validation on push, media type on pull, referrers.
#pragma once

#include "core/digest.hpp"
#include "core/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rs::registry {

namespace media {
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
}  // namespace media

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = 0;
  bool has_urls = false;  // foreign ("non-distributable") content, not stored here
};

struct Manifest {
  std::string media_type;  // effective media type
  bool is_index = false;
  std::vector<Descriptor> blobs;      // config and layers (image manifests)
  std::vector<Descriptor> manifests;  // children (indexes)
  std::optional<Descriptor> subject;
  std::string artifact_type;          // artifactType, else config.mediaType (manifests)
  std::string annotations_json;       // the "annotations" object as JSON, or empty
};

// How deep a manifest may nest arrays and objects (registry:2's decoder stops at 10000;
// real manifests use 4). Deeper documents are refused before they are parsed.
inline constexpr int kMaxManifestDepth = 64;

// Validates pushed bytes. `content_type` is the request's Content-Type; when it names a
// manifest type, a "mediaType" in the body must agree. Errc::invalid_argument on any
// problem (MANIFEST_INVALID), with a message saying which.
Result<Manifest> parse_manifest(std::string_view bytes, std::string_view content_type);

// The media type to serve stored bytes with, as registry:2 does: the body's "mediaType",
// else inferred from its shape (OCI index if it has "manifests", else OCI manifest).
std::string stored_media_type(std::string_view bytes);

struct Referrer {
  std::string media_type;
  Digest digest;
  std::uint64_t size = 0;
  std::string artifact_type;
  std::string annotations_json;
};

// The OCI image index that GET /v2/<name>/referrers/<digest> answers with.
std::string referrers_index(const std::vector<Referrer>& referrers);

// One referrer's descriptor as that index lists it (JSON), and back: the subject index
// keeps referrers in this form. Errc::invalid_argument for text that is not one.
std::string referrer_descriptor(const Referrer& referrer);
Result<Referrer> parse_referrer_descriptor(std::string_view text);

// Escapes a string for inclusion in a JSON document (without the quotes).
std::string json_escape(std::string_view s);

}  // namespace rs::registry
