// Any text as containerd's config.toml: a plan or an error, never a crash; a rewritten
// file plans again to itself (config_path found, nothing more to add).
#include "agent/modules/runtime_registries_module.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto plan = rs::agent::plan_containerd_config(text);
  if (!plan) return 0;
  if (plan->rewritten) {
    auto again = rs::agent::plan_containerd_config(*plan->rewritten);
    if (again && again->rewritten) std::abort();
  }
  return 0;
}
