#include "registry/range.hpp"

#include <catch2/catch.hpp>

using namespace rs::registry;

TEST_CASE("single byte ranges") {
  auto r = resolve_range("bytes=0-9", 100);
  REQUIRE(r.status == RangeStatus::ok);
  CHECK(r.range.first == 0);
  CHECK(r.range.last == 9);
  CHECK(r.range.length() == 10);

  auto open = resolve_range("bytes=90-", 100);
  REQUIRE(open.status == RangeStatus::ok);
  CHECK(open.range.last == 99);

  auto suffix = resolve_range("bytes=-5", 100);
  REQUIRE(suffix.status == RangeStatus::ok);
  CHECK(suffix.range.first == 95);

  auto clamped = resolve_range("bytes=50-1000", 100);
  REQUIRE(clamped.status == RangeStatus::ok);
  CHECK(clamped.range.last == 99);
}

TEST_CASE("unsatisfiable and ignored ranges") {
  CHECK(resolve_range("bytes=100-", 100).status == RangeStatus::unsatisfiable);
  CHECK(resolve_range("bytes=-0", 100).status == RangeStatus::unsatisfiable);
  CHECK(resolve_range("bytes=0-1", 0).status == RangeStatus::unsatisfiable);
  CHECK(resolve_range("bytes=0-1,5-6", 100).status == RangeStatus::none);
  CHECK(resolve_range("items=0-1", 100).status == RangeStatus::none);
  CHECK(resolve_range("bytes=9-1", 100).status == RangeStatus::none);
  CHECK(resolve_range("bytes=x-1", 100).status == RangeStatus::none);
}

TEST_CASE("positions beyond 64 bits are past the end, not malformed (RFC 9110 14.2)") {
  CHECK(resolve_range("bytes=99999999999999999999-", 100).status == RangeStatus::unsatisfiable);
  auto huge_last = resolve_range("bytes=10-99999999999999999999", 100);
  REQUIRE(huge_last.status == RangeStatus::ok);
  CHECK(huge_last.range.last == 99);
  auto huge_suffix = resolve_range("bytes=-99999999999999999999", 100);
  REQUIRE(huge_suffix.status == RangeStatus::ok);
  CHECK(huge_suffix.range.first == 0);
  // Not digits at all: ignored, the whole body is served.
  CHECK(resolve_range("bytes=+5-", 100).status == RangeStatus::none);
  CHECK(resolve_range("bytes=5x-", 100).status == RangeStatus::none);
  // An upload's Content-Range must be exact.
  CHECK_FALSE(parse_content_range("0-99999999999999999999"));
  CHECK_FALSE(parse_content_range("0-18446744073709551615"));
}

TEST_CASE("upload Content-Range") {
  auto r = parse_content_range("0-1023");
  REQUIRE(r);
  CHECK(r->length() == 1024);
  auto with_unit = parse_content_range("bytes 10-19/*");
  REQUIRE(with_unit);
  CHECK(with_unit->first == 10);
  CHECK_FALSE(parse_content_range("5-4"));
  CHECK_FALSE(parse_content_range("abc"));
  CHECK_FALSE(parse_content_range("-5"));
}
