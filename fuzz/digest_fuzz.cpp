// Any text as a digest: only canonical digests parse, and they print back as they came.
#include "core/digest.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto d = rs::Digest::parse(text);
  if (d && d->str() != text) std::abort();
  return 0;
}
