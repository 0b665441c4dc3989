// `registry-setup serve`: runs the built-in v2 registry until SIGTERM/SIGINT.
#pragma once

#include <string>
#include <vector>

namespace rs::registry {

int serve_command(const std::vector<std::string>& args);

}  // namespace rs::registry
