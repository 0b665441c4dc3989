// Any text: yaml-cpp's parse (its depth guard) and check_yaml_tree never crash or hang.
#include "core/yaml_tree.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto doc = YAML::Load(std::string(reinterpret_cast<const char*>(data), size));
    (void)rs::check_yaml_tree(doc, 10'000);
  } catch (const YAML::Exception&) {
    // Invalid YAML is an answer, not a failure.
  }
  return 0;
}
