// Any bytes as a bearer token, as a token's claims, as a scope and as a repository pattern:
// the token parsers and the matcher never crash, never accept an unsigned token, and keep
// their bounds.
#include "registry/access.hpp"
#include "registry/token_auth.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>

using namespace rs::registry;

namespace {

// An authority with a key of its own (made once per process): no input can be signed by it.
const TokenAuthority& authority() {
  static const std::unique_ptr<TokenAuthority> a = [] {
    const auto dir = std::filesystem::temp_directory_path() / ("rs-fuzz-token-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    TokenOptions o;
    o.service = "registry.test";
    o.issuer = "registry-setup";
    o.signingkey = (dir / "token.key").string();
    auto made = TokenAuthority::create(o, true);
    if (!made) std::abort();
    std::filesystem::remove_all(dir);
    return std::move(*made);
  }();
  return *a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto& a = authority();
  if (a.verify(input)) std::abort();  // nothing here was signed by this key
  auto claims = read_claims(input, a.options(), std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)),
                            std::chrono::seconds(60));
  if (claims) {
    if (claims->access.size() > 256) std::abort();
    for (const auto& g : claims->access)
      if (g.type.empty() || g.actions == 0 || (g.actions & ~kAllActions)) std::abort();
  }
  if (auto scope = parse_scope(input)) {
    if (scope->type.empty() || scope->name.empty() || (scope->actions & ~kAllActions)) std::abort();
    if (parse_scope(scope_text(*scope)) != scope && scope->actions) std::abort();
  }
  // The first line a pattern, the rest a repository.
  const auto newline = input.find('\n');
  const std::string_view pattern = std::string_view(input).substr(0, newline);
  const std::string_view name = newline == std::string::npos ? std::string_view() : std::string_view(input).substr(newline + 1);
  if (valid_pattern(pattern)) {
    const bool matched = pattern_match(pattern, name.substr(0, 255));
    if (pattern == name.substr(0, 255) && pattern.find_first_of("*?") == std::string_view::npos && !matched) std::abort();
  }
  return 0;
}
