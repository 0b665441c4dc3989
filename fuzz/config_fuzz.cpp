// Any text as the registry's config, and any REGISTRY_* variables over it: every problem
// listed, never an exception or a crash. Input: the YAML, then optionally a line "%%" and
// NAME=VALUE lines (the environment).
#include "registry/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find("\n%%\n");
  rs::registry::Environment environment;
  if (split != std::string::npos) {
    std::size_t from = split + 4;
    while (from < input.size()) {
      auto end = input.find('\n', from);
      if (end == std::string::npos) end = input.size();
      const std::string line = input.substr(from, end - from);
      const auto eq = line.find('=');
      if (eq != std::string::npos) environment.emplace_back(line.substr(0, eq), line.substr(eq + 1));
      from = end + 1;
    }
  }
  auto config = rs::registry::parse_config(input.substr(0, split), "fuzz.yml", environment);
  (void)config;
  return 0;
}
