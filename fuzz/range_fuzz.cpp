// Any text as a Range header (against a few blob sizes) and as an upload's Content-Range:
// a resolved range always lies inside the blob.
#include "registry/range.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view header(reinterpret_cast<const char*>(data), size);
  for (std::uint64_t blob : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{100}, UINT64_MAX}) {
    auto r = rs::registry::resolve_range(header, blob);
    if (r.status == rs::registry::RangeStatus::ok && (r.range.first > r.range.last || r.range.last >= blob)) std::abort();
  }
  if (auto c = rs::registry::parse_content_range(header); c && c->first > c->last) std::abort();
  return 0;
}
