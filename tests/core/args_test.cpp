#include "core/args.hpp"

#include <catch2/catch.hpp>

TEST_CASE("flags, options and positionals") {
  rs::ArgSpec spec{{"-v", "--check"}, {"--forks", "--limit"}};
  auto a = rs::parse_args({"inv.yml", "-vv", "--forks", "4", "--limit=web", "--check"}, spec);
  REQUIRE(a.ok());
  CHECK(a->positionals == std::vector<std::string>{"inv.yml"});
  CHECK(a->count("-v") == 2);
  CHECK(a->has("--check"));
  CHECK(*a->get("--forks") == "4");
  CHECK(*a->get("--limit") == "web");
}

TEST_CASE("unknown options and missing values are named") {
  rs::ArgSpec spec{{"-v"}, {"--forks"}};
  auto unknown = rs::parse_args({"--frok", "2"}, spec);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.find("--frok") != std::string::npos);
  auto missing = rs::parse_args({"--forks"}, spec);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("needs a value") != std::string::npos);
}

TEST_CASE("arguments after -- are kept apart") {
  auto a = rs::parse_args({"run", "--", "ls", "-l"}, rs::ArgSpec{});
  REQUIRE(a.ok());
  CHECK(a->positionals == std::vector<std::string>{"run"});
  CHECK(a->rest == std::vector<std::string>{"ls", "-l"});
}

TEST_CASE("positive integers") {
  CHECK(*rs::parse_positive_int("--forks", "8") == 8);
  CHECK_FALSE(rs::parse_positive_int("--forks", "0").ok());
  CHECK_FALSE(rs::parse_positive_int("--forks", "3x").ok());
}
