// `registry-setup gc`: a garbage collection (gc.hpp) of a storage root from the command
// line, also while servers serve it.
#pragma once

#include <string>
#include <vector>

namespace rs::registry {

int gc_command(const std::vector<std::string>& args);

}  // namespace rs::registry
