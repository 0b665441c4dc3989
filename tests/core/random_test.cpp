#include "core/random.hpp"

#include <catch2/catch.hpp>

#include <set>

TEST_CASE("random_hex: the asked length, lowercase hex, no repeats in 10000 draws") {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    auto h = rs::random_hex(16);
    REQUIRE(h.size() == 32);
    REQUIRE(h.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(h);
  }
  CHECK(seen.size() == 10000);
  // Every bit position takes both values: all 128 bits are drawn (a UUID's fixed nibbles are not).
  std::string ors(32, '0'), ands(32, 'f');
  for (const auto& h : seen)
    for (std::size_t i = 0; i < 32; ++i) {
      int v = h[i] <= '9' ? h[i] - '0' : h[i] - 'a' + 10;
      int o = ors[i] <= '9' ? ors[i] - '0' : ors[i] - 'a' + 10;
      int a = ands[i] <= '9' ? ands[i] - '0' : ands[i] - 'a' + 10;
      ors[i] = "0123456789abcdef"[o | v];
      ands[i] = "0123456789abcdef"[a & v];
    }
  CHECK(ors == std::string(32, 'f'));
  CHECK(ands == std::string(32, '0'));
}
