#include "agent/commands.hpp"

#include <cstdio>

namespace rs::agent {
namespace {

int not_built(const char* name) {
  std::fprintf(stderr, "registry-setup %s: not built yet in this version\n", name);
  return 1;
}

}  // namespace

int apply_command(const std::vector<std::string>&) { return not_built("apply"); }
int verify_command(const std::vector<std::string>&) { return not_built("verify"); }
int lab_command(const std::vector<std::string>&) { return not_built("lab"); }

}  // namespace rs::agent
