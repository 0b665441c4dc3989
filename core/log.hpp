// One spdlog logger per component, quiet by default; -v raises the level.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace rs::log {

// Creates the component loggers ("registry", "agent", "lab", "cli") on stderr.
// verbosity 0 = warnings and errors, 1 = info, 2 and more = debug.
void init(int verbosity);

// Sets the level from a name (trace, debug, info, warn, error, off); false if unknown.
bool set_level(const std::string& name);

std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace rs::log
