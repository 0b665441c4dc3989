// Range (blob downloads) and Content-Range (chunked uploads) header parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rs::registry {

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

enum class RangeStatus { none, ok, unsatisfiable };

struct RangeResult {
  RangeStatus status = RangeStatus::none;
  ByteRange range;
};

// Resolves a "Range: bytes=..." header against a resource of `size` bytes (RFC 9110):
// a single range "a-b", "a-" or "-n". Malformed or multi-range headers are ignored
// (status none: serve the whole body); a range starting past the end is unsatisfiable.
RangeResult resolve_range(std::string_view header, std::uint64_t size);

// Parses an upload chunk's Content-Range "a-b" (also "bytes a-b/*"); nullopt if malformed.
std::optional<ByteRange> parse_content_range(std::string_view header);

}  // namespace rs::registry
