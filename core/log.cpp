#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace rs::log {
namespace {

std::once_flag g_once;
std::shared_ptr<spdlog::sinks::sink> g_sink;

std::shared_ptr<spdlog::sinks::sink> sink() {
  std::call_once(g_once, [] {
    g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    g_sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %n: %v");
  });
  return g_sink;
}

}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = std::make_shared<spdlog::logger>(component, sink());
  logger->set_level(spdlog::get_level());
  spdlog::register_logger(logger);  // throws if raced; callers use init() first
  return logger;
}

void init(int verbosity) {
  auto level = verbosity <= 0 ? spdlog::level::warn
               : verbosity == 1 ? spdlog::level::info
                                : spdlog::level::debug;
  for (const char* name : {"registry", "agent", "lab", "cli"}) get(name);
  spdlog::set_level(level);
}

bool set_level(const std::string& name) {
  auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off") return false;
  spdlog::set_level(level);
  return true;
}

}  // namespace rs::log
