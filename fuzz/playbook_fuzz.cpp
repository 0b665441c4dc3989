// Any text as a playbook: parsed, then planned for a small fixed inventory (templates
// rendered, every module's arguments checked); problems are answers, never a crash.
#include "agent/run/playbook.hpp"
#include "agent/run/registry_vars.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

const rs::agent::Inventory& inventory() {
  static const rs::agent::Inventory inv = [] {
    rs::agent::Problems problems;
    return *rs::agent::Inventory::parse(
        "all:\n  children:\n    registry: {hosts: {host-a: {ansible_host: 10.77.0.11}}}\n"
        "    clients: {hosts: {host-b: {ansible_host: 10.77.0.12, insecure_registry_method: daemon-json}}}\n",
        "inv.yml", problems, rs::agent::derive_registry_vars);
  }();
  return inv;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rs::agent::Problems problems;
  auto book = rs::agent::Playbook::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yml", problems);
  if (!book) return 0;
  auto plans = rs::agent::plan(*book, inventory(), *inventory().match("all"), problems);
  for (const auto& p : problems) (void)p.str();
  if (!plans) return 0;
  for (const auto& host : *plans)
    for (const auto& play : host.plays)
      for (const auto& task : play.tasks) (void)task.action->summary();
  return 0;
}
