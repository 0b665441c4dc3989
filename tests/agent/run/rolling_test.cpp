#include "agent/run/rolling.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using Sizes = std::vector<std::size_t>;

namespace {

Rolling rolling(const std::string& serial_yaml, std::optional<int> max_fail = std::nullopt) {
  Rolling r;
  auto serial = parse_serial(YAML::Load(serial_yaml));
  REQUIRE(serial);
  r.serial = *serial;
  r.max_fail_percentage = max_fail;
  return r;
}

std::string serial_error(const std::string& yaml) {
  auto r = parse_serial(YAML::Load(yaml));
  REQUIRE_FALSE(r);
  return r.error().message;
}

}  // namespace

TEST_CASE("rolling: batches as ansible-core's _get_serialized_batches cuts them") {
  CHECK(Rolling{}.batches(7) == Sizes{7});
  CHECK(Rolling{}.batches(0).empty());
  CHECK(rolling("2").batches(7) == Sizes{2, 2, 2, 1});
  CHECK(rolling("10").batches(3) == Sizes{3});
  // A plain 0 is everything left.
  CHECK(rolling("0").batches(4) == Sizes{4});
  // Percentages of all the play's hosts, rounded down, at least 1.
  CHECK(rolling("'30%'").batches(10) == Sizes{3, 3, 3, 1});
  CHECK(rolling("'25%'").batches(3) == Sizes{1, 1, 1});
  CHECK(rolling("'0%'").batches(2) == Sizes{1, 1});
  CHECK(rolling("'100%'").batches(5) == Sizes{5});
  // A list: each size in turn, the last one repeats.
  CHECK(rolling("[1, 5, '50%']").batches(20) == Sizes{1, 5, 10, 4});
  CHECK(rolling("[1, 2]").batches(8) == Sizes{1, 2, 2, 2, 1});
  CHECK(rolling("[3, 0]").batches(8) == Sizes{3, 5});
}

TEST_CASE("rolling: what stops the run") {
  // Not rolling: only a batch where every host failed (Ansible's break_play).
  CHECK_FALSE(Rolling{}.stops(0, 5));
  CHECK_FALSE(Rolling{}.stops(4, 5));
  CHECK(Rolling{}.stops(5, 5));
  // Rolling without a limit: any failure (a rolling restart stops at the first broken host).
  CHECK(rolling("2").stops(1, 2));
  CHECK_FALSE(rolling("2").stops(0, 2));
  // max_fail_percentage: more than that share of the batch.
  CHECK_FALSE(rolling("4", 25).stops(1, 4));
  CHECK(rolling("4", 25).stops(2, 4));
  CHECK_FALSE(rolling("3", 100).stops(3, 3));
  CHECK(rolling("3", 0).stops(1, 3));
  Rolling limit_only;
  limit_only.max_fail_percentage = 10;
  CHECK(limit_only.stops(2, 10));
  CHECK_FALSE(limit_only.stops(1, 10));
}

TEST_CASE("rolling: describe names the keywords in effect") {
  CHECK(Rolling{}.describe().empty());
  CHECK(rolling("[1, '20%']").describe() == "serial 1,20%, max_fail_percentage 0");
  CHECK(rolling("2", 50).describe() == "serial 2, max_fail_percentage 50");
  Rolling limit_only;
  limit_only.max_fail_percentage = 10;
  CHECK(limit_only.describe() == "max_fail_percentage 10");
}

TEST_CASE("rolling: bad serial and max_fail_percentage values are named") {
  CHECK_THAT(serial_error("two"), Catch::StartsWith("serial: 'two' is not a whole number"));
  CHECK_THAT(serial_error("-1"), Catch::StartsWith("serial: '-1' is negative"));
  CHECK_THAT(serial_error("'150%'"), Catch::StartsWith("serial: '150%' is more than 100%"));
  CHECK_THAT(serial_error("'%'"), Catch::StartsWith("serial: '%' is not a whole number"));
  CHECK_THAT(serial_error("99999999999999999999"), Catch::StartsWith("serial: '99999999999999999999' is not a whole number"));
  CHECK_THAT(serial_error("[]"), Catch::StartsWith("serial: an empty list"));
  CHECK_THAT(serial_error("[1, {a: 1}]"), Catch::StartsWith("serial: a batch size must be a number"));
  CHECK_THAT(serial_error("{a: 1}"), Catch::StartsWith("serial: a batch size must be a number"));
  CHECK(parse_max_fail_percentage(YAML::Load("30")).value() == 30);
  CHECK(parse_max_fail_percentage(YAML::Load("'30%'")).value() == 30);
  CHECK_FALSE(parse_max_fail_percentage(YAML::Load("101")));
  CHECK_FALSE(parse_max_fail_percentage(YAML::Load("-1")));
  CHECK_FALSE(parse_max_fail_percentage(YAML::Load("[1]")));
}
