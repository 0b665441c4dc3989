#include "agent/run/host_range.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;

namespace {

using Names = std::vector<std::string>;

Names expand(const std::string& name, std::size_t limit = kMaxInventoryHosts) {
  auto r = expand_host_range(name, limit);
  REQUIRE(r.ok());
  return *r;
}

// The error's message; the test fails when there is none.
std::string error_of(const std::string& name, std::size_t limit = kMaxInventoryHosts) {
  auto r = expand_host_range(name, limit);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == rs::Errc::invalid_argument);
  // Every message names the name.
  CHECK_THAT(r.error().message, Catch::Contains("'" + name + "'"));
  return r.error().message;
}

}  // namespace

TEST_CASE("host range: a name without '[' is itself", "[host_range]") {
  CHECK(expand("host-a") == Names{"host-a"});
  CHECK(expand("") == Names{""});
  // A ']' alone is part of the name, as in Ansible.
  CHECK(expand("odd]name") == Names{"odd]name"});
}

TEST_CASE("host range: numbers, both ends included, no padding without a leading zero", "[host_range]") {
  CHECK(expand("a[1:3]") == Names{"a1", "a2", "a3"});
  CHECK(expand("db[8:11].lan") == Names{"db8.lan", "db9.lan", "db10.lan", "db11.lan"});
  CHECK(expand("[0:2]x") == Names{"0x", "1x", "2x"});
  CHECK(expand("a[5:5]") == Names{"a5"});
  // An empty begin is 0.
  CHECK(expand("a[:2]") == Names{"a0", "a1", "a2"});
}

TEST_CASE("host range: a leading zero sets the width of every name", "[host_range]") {
  auto names = expand("www[01:50].example.com");
  REQUIRE(names.size() == 50);
  CHECK(names.front() == "www01.example.com");
  CHECK(names[8] == "www09.example.com");
  CHECK(names[9] == "www10.example.com");
  CHECK(names.back() == "www50.example.com");
  CHECK(expand("n[008:011]") == Names{"n008", "n009", "n010", "n011"});
  // "0" alone is no width.
  CHECK(expand("n[0:10:5]") == Names{"n0", "n5", "n10"});
}

TEST_CASE("host range: letters, a..z then A..Z", "[host_range]") {
  CHECK(expand("db-[a:f]") == Names{"db-a", "db-b", "db-c", "db-d", "db-e", "db-f"});
  CHECK(expand("x[y:B]") == Names{"xy", "xz", "xA", "xB"});
  CHECK(expand("x[Z:Z]") == Names{"xZ"});
}

TEST_CASE("host range: a step", "[host_range]") {
  CHECK(expand("a[01:10:2]") == Names{"a01", "a03", "a05", "a07", "a09"});
  CHECK(expand("a[1:10:3]") == Names{"a1", "a4", "a7", "a10"});
  CHECK(expand("a[a:i:3]") == Names{"aa", "ad", "ag"});
  CHECK(expand("a[1:3:10]") == Names{"a1"});
}

TEST_CASE("host range: several ranges, the first outermost", "[host_range]") {
  CHECK(expand("r[1:2]-n[a:b]") == Names{"r1-na", "r1-nb", "r2-na", "r2-nb"});
  // Ansible's own cases (test/units/plugins/inventory/test_inventory.py).
  CHECK(expand("a[a:b][c:d]") == Names{"aac", "aad", "abc", "abd"});
  CHECK(expand("a[0:1][2:3]") == Names{"a02", "a03", "a12", "a13"});
  CHECK(expand("a[a:b][2:3]") == Names{"aa2", "aa3", "ab2", "ab3"});
  CHECK(expand("[1:2][1:2][1:2]").size() == 8);
  CHECK(expand("[1:2][1:2][1:2]").back() == "222");
}

TEST_CASE("host range: begin after end is an error", "[host_range]") {
  CHECK_THAT(error_of("a[5:1]"), Catch::Contains("begins after its end"));
  CHECK_THAT(error_of("a[f:a]"), Catch::Contains("begins after its end"));
  CHECK_THAT(error_of("a[A:z]"), Catch::Contains("begins after its end"));
}

TEST_CASE("host range: letters mixed with numbers, or neither, are errors", "[host_range]") {
  CHECK_THAT(error_of("a[a:5]"), Catch::Contains("mixes a letter and a number"));
  CHECK_THAT(error_of("a[1:z]"), Catch::Contains("mixes a letter and a number"));
  CHECK_THAT(error_of("a[ab:cd]"), Catch::Contains("'ab' is not a number or a single letter"));
  CHECK_THAT(error_of("a[1:-3]"), Catch::Contains("'-3' is not a number"));
  CHECK_THAT(error_of("a[1:99999999999999999999]"), Catch::Contains("too large"));
}

TEST_CASE("host range: a step of 0 or not a number is an error", "[host_range]") {
  CHECK_THAT(error_of("a[1:5:0]"), Catch::Contains("the step '0'"));
  CHECK_THAT(error_of("a[1:5:x]"), Catch::Contains("the step 'x'"));
  CHECK_THAT(error_of("a[1:5:]"), Catch::Contains("the step ''"));
  CHECK_THAT(error_of("a[a:e:-1]"), Catch::Contains("the step '-1'"));
}

TEST_CASE("host range: brackets that do not close, or close first, are errors", "[host_range]") {
  CHECK_THAT(error_of("a[1:3"), Catch::Contains("'[' without a closing ']'"));
  CHECK_THAT(error_of("a[1:2]b[3:4"), Catch::Contains("'[' without a closing ']'"));
  CHECK_THAT(error_of("a]b[1:2]"), Catch::Contains("']' before '['"));
  CHECK_THAT(error_of("a[[1:2]"), Catch::Contains("'[1' is not a number"));
}

TEST_CASE("host range: an empty range, no end or a wrong number of bounds are errors", "[host_range]") {
  CHECK_THAT(error_of("a[]"), Catch::Contains("empty range"));
  CHECK_THAT(error_of("a[1:]"), Catch::Contains("has no end"));
  CHECK_THAT(error_of("a[:]"), Catch::Contains("has no end"));
  CHECK_THAT(error_of("a[5]"), Catch::Contains("not [begin:end] or [begin:end:step]"));
  CHECK_THAT(error_of("a[1:2:3:4]"), Catch::Contains("not [begin:end] or [begin:end:step]"));
}

TEST_CASE("host range: begin and end of unequal width are an error", "[host_range]") {
  CHECK_THAT(error_of("a[01:100]"), Catch::Contains("begin '01' and end '100' must have the same width"));
  CHECK_THAT(error_of("a[001:10]"), Catch::Contains("same width"));
}

TEST_CASE("host range: more names than the limit are an error", "[host_range]") {
  CHECK(expand("a[1:10]", 10).size() == 10);
  CHECK_THAT(error_of("a[1:11]", 10), Catch::Contains("more than 10 names"));
  // The product of several ranges counts, and is checked before anything is built.
  CHECK_THAT(error_of("a[1:4][1:3]", 10), Catch::Contains("more than 10 names"));
  CHECK_THAT(error_of("[0:999999999999999999][0:999999999999999999]"), Catch::Contains("more than 100000 names"));
  CHECK(expand("a[1:100000]").size() == kMaxInventoryHosts);
  CHECK_THAT(error_of("a[1:100001]"), Catch::Contains("more than 100000 names"));
  // Long names count by their bytes too.
  CHECK_THAT(error_of(std::string(1000, 'x') + "[1:99999]"), Catch::Contains("MiB"));
}
