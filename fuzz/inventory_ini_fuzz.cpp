// Any text as an INI inventory, and each of its lines as a host range: problems are
// answers, an exception or a crash is a bug.
#include "agent/run/host_range.hpp"
#include "agent/run/inventory_ini.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  rs::agent::Problems problems;
  rs::agent::InventorySource source;
  // A small cap keeps each input fast; the limits' code is the same at any size.
  rs::agent::read_ini_inventory(text, "fuzz.ini", source, problems, 1000);
  for (const auto& p : problems) (void)p.str();
  for (const auto& [host, vars] : source.host_vars)
    for (const auto& [name, var] : vars) (void)var.value.IsScalar();

  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto names = rs::agent::expand_host_range(text.substr(start, end - start), 1000);
    if (!names) (void)names.error().message;
    start = end + 1;
  }
  return 0;
}
