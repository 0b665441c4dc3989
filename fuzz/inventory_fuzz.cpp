// Any text as an inventory: parsed, the registry's variables derived, host patterns
// matched; problems are answers, an exception or a crash is a bug.
#include "agent/run/inventory.hpp"
#include "agent/run/registry_vars.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs::agent::Problems problems;
  auto inv = rs::agent::Inventory::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yml", problems,
                                         rs::agent::derive_registry_vars);
  for (const auto& p : problems) (void)p.str();
  if (!inv) return 0;
  for (const char* pattern : {"all", "registry", "all:!registry", "*-a,&all"}) (void)inv->match(pattern);
  (void)rs::agent::registry_addresses(*inv);
  return 0;
}
