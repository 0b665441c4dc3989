// Any bytes as a pushed manifest, under each Content-Type a client may send: validated,
// and a valid one's referrer entry built as the API builds it.
#include "registry/manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using namespace rs::registry;
  for (std::string_view type : {std::string_view(), media::kOciManifest, media::kDockerManifest, media::kOciIndex}) {
    auto m = parse_manifest(bytes, type);
    if (!m) continue;
    Referrer r{m->media_type, rs::Digest{}, size, m->artifact_type, m->annotations_json};
    (void)referrers_index({r});
  }
  (void)stored_media_type(bytes);
  return 0;
}
