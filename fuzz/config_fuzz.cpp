// Any text as the registry's config: every problem listed, never an exception or a crash.
#include "registry/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = rs::registry::parse_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yml");
  (void)config;
  return 0;
}
