#include "registry/serve_command.hpp"

#include <cstdio>

namespace rs::registry {

int serve_command(const std::vector<std::string>&) {
  std::fprintf(stderr, "registry-setup serve: not built yet in this version\n");
  return 1;
}

}  // namespace rs::registry
