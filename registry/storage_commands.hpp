// Commands on a storage root beside (or without) a running server: `rm`, the supported form
// of `rm -rf repositories/NAME`, and `du`, what the store holds and what a collection would
// free.
#pragma once

#include <string>
#include <vector>

namespace rs::registry {

int rm_command(const std::vector<std::string>& args);
int du_command(const std::vector<std::string>& args);

}  // namespace rs::registry
