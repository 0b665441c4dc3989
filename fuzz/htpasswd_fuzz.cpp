// Any htpasswd file through the parser, and any Authorization header through the Basic
// parser: what comes out is bounded and well-formed (a bcrypt hash, a user without ':').
#include "registry/htpasswd.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace rs::registry;
  auto set = parse_htpasswd(input, "fuzz");
  if (set) {
    for (const auto& e : set->entries) {
      if (e.user.empty() || e.user.size() > kMaxUserName || e.user.find(':') != std::string::npos) std::abort();
      if (!is_bcrypt(e.hash)) std::abort();
    }
  }
  auto credentials = parse_basic_authorization(input);
  if (credentials) {
    if (input.size() > kMaxAuthorizationBytes) std::abort();
    if (credentials->user.empty() || credentials->user.find(':') != std::string::npos) std::abort();
  }
  return 0;
}
