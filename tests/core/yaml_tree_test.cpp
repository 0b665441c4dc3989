#include "core/yaml_tree.hpp"

#include <catch2/catch.hpp>

using rs::check_yaml_tree;

TEST_CASE("yaml tree: a plain document passes") {
  auto doc = YAML::Load("a: 1\nb: [x, {c: 2}]\n");
  CHECK(check_yaml_tree(doc).empty());
}

TEST_CASE("yaml tree: a key that is a list or mapping is named with its line") {
  auto doc = YAML::Load("all:\n  ok: 1\n  ? [a]\n  : 1\n");
  auto problems = check_yaml_tree(doc);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].line == 3);
  CHECK(problems[0].key == "all");
  CHECK_THAT(problems[0].message, Catch::Contains("plain value"));
}

TEST_CASE("yaml tree: a key set twice names both lines") {
  auto doc = YAML::Load("all:\n  vars:\n    registry_port: 5000\n    registry_port: 5001\n");
  auto problems = check_yaml_tree(doc);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].line == 4);
  CHECK(problems[0].key == "all.vars.registry_port");
  CHECK_THAT(problems[0].message, Catch::Contains("first at line 3"));
}

TEST_CASE("yaml tree: aliases that multiply the tree are bounded") {
  // Each level refers to the one before twice: 2^20 values from a few hundred bytes.
  std::string text = "l0: &l0 [x, x]\n";
  for (int i = 1; i <= 20; ++i)
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) + ", *l" +
            std::to_string(i - 1) + "]\n";
  auto problems = check_yaml_tree(YAML::Load(text), 10'000);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0].message, Catch::Contains("more than 10000 values"));
}

TEST_CASE("yaml tree: nesting beyond yaml-cpp's guard is a parse error, not a crash") {
  CHECK_THROWS_AS(YAML::Load(std::string(100'000, '[')), YAML::Exception);
}

TEST_CASE("yaml tree: huge keys over many values cost no more than the values") {
  // A 600 KB key over 200k values: paths copied per value would need 120 GB.
  std::string text = "? " + std::string(600'000, 'x') + "\n: [";
  for (int i = 0; i < 200'000; ++i) text += "0,";
  text += "0]\n";
  auto problems = check_yaml_tree(YAML::Load(text));
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0].message, Catch::Contains("more than 100000 values"));
  CHECK(problems[0].key.size() < 100);
}

TEST_CASE("yaml tree: a mapping's problem repeated through aliases is listed once") {
  auto doc = YAML::Load("base: &b {x: 1, x: 2}\nuses: [*b, *b, *b, *b]\n");
  auto problems = check_yaml_tree(doc);
  CHECK(problems.size() == 1);
}
