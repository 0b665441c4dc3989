#include "registry/access.hpp"

#include <catch2/catch.hpp>

using namespace rs::registry;

TEST_CASE("patterns: * and ? within a segment, ** across any number of segments") {
  struct Case {
    const char* pattern;
    const char* repository;
    bool match;
  };
  for (const auto& c : std::vector<Case>{
           {"**", "a", true},
           {"**", "a/b/c", true},
           {"public/**", "public", true},
           {"public/**", "public/app", true},
           {"public/**", "public/team/app", true},
           {"public/**", "publicity/app", false},
           {"public/**", "other/public/app", false},
           {"*", "app", true},
           {"*", "team/app", false},
           {"team-*/app", "team-a/app", true},
           {"team-*/app", "team-/app", true},
           {"team-*/app", "team/app", false},
           {"team-*/app", "team-a/b/app", false},
           {"a?c", "abc", true},
           {"a?c", "ac", false},
           {"**/cache", "cache", true},
           {"**/cache", "x/y/cache", true},
           {"**/cache", "x/cache/y", false},
           {"a/**/z", "a/z", true},
           {"a/**/z", "a/b/c/z", true},
           {"a/**/z", "a/b/c", false},
           {"*a*b*", "xaybz", true},
           {"*a*b*", "xbya", false},
           {"app", "app", true},
           {"app", "app2", false},
       }) {
    INFO(c.pattern << " ~ " << c.repository);
    CHECK(pattern_match(c.pattern, c.repository) == c.match);
  }
}

TEST_CASE("patterns that cannot mean what they say are refused, with why") {
  std::string why;
  CHECK(valid_pattern("team/**", &why));
  CHECK_FALSE(valid_pattern("", &why));
  CHECK(why == "is empty");
  CHECK_FALSE(valid_pattern("a**", &why));
  CHECK_THAT(why, Catch::Contains("'**' inside a segment"));
  CHECK_FALSE(valid_pattern("a//b", &why));
  CHECK(why == "has an empty path segment");
  CHECK_FALSE(valid_pattern("a b", &why));
  CHECK_FALSE(valid_pattern(std::string(257, 'a'), &why));
  CHECK(valid_pattern(std::string(256, 'a'), &why));
}

TEST_CASE("a pathological pattern is matched in bounded time") {
  // 128 stars against a 255-character name that almost matches: the greedy matcher with one
  // backtrack point stays polynomial (a naive recursive one would not finish).
  std::string pattern;
  for (int i = 0; i < 127; ++i) pattern += "*a";
  pattern += "*b";
  const std::string name(255, 'a');
  CHECK_FALSE(pattern_match(pattern, name));
}

TEST_CASE("the policy: the union of every matching rule, by user, group, any user and anonymous") {
  AccessRule everything{"**", 0, 0, {{"admin", kAllActions}}, {}};
  AccessRule public_pull{"public/**", kPull, 0, {}, {}};
  AccessRule team{"team/**", 0, kPull, {{"carol", kDelete}}, {{"developers", kPull | kPush}}};
  AccessPolicy policy({{"developers", {"alice", "bob"}}, {"ops", {"carol"}}}, {everything, public_pull, team});
  const std::optional<std::string> anonymous, alice("alice"), carol("carol"), admin("admin"), zed("zed");
  CHECK(policy.grants_anonymous());
  CHECK(policy.granted(anonymous, "public/app") == kPull);
  CHECK(policy.granted(anonymous, "team/app") == 0);
  CHECK(policy.granted(anonymous, "private") == 0);
  CHECK(policy.granted(alice, "team/app") == (kPull | kPush));
  CHECK(policy.granted(alice, "public/app") == kPull);
  CHECK(policy.granted(alice, "private") == 0);
  CHECK(policy.granted(carol, "team/app") == (kPull | kDelete));
  CHECK(policy.granted(zed, "team/app") == kPull);
  CHECK(policy.granted(admin, "anything/at/all") == kAllActions);
  // A user named like a group is not its member.
  CHECK(policy.granted(std::string("developers"), "team/app") == kPull);
  AccessPolicy closed({}, {everything});
  CHECK_FALSE(closed.grants_anonymous());
}

TEST_CASE("actions: the words, the '*' of tokens, and their text") {
  CHECK(parse_action("pull") == kPull);
  CHECK(parse_action("push") == kPush);
  CHECK(parse_action("delete") == kDelete);
  CHECK(parse_action("*") == kAllActions);
  CHECK_FALSE(parse_action("Pull"));
  CHECK_FALSE(parse_action(""));
  CHECK(actions_text(kPush | kPull) == "pull,push");
  CHECK(actions_text(kAllActions) == "pull,push,delete");
  CHECK(actions_text(0).empty());
}
