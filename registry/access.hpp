// Who may do what to which repositories: the config's `access` section. Rules grant actions
// (pull, push, delete) on the repositories a pattern matches, to users, groups of users,
// every authenticated user, or anonymous callers; a caller's actions on a repository are the
// union of what every matching rule grants. Nothing is granted that no rule names.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rs::registry {

// A set of actions, as bits.
using Actions = std::uint8_t;
inline constexpr Actions kPull = 1, kPush = 2, kDelete = 4;
inline constexpr Actions kAllActions = kPull | kPush | kDelete;

// "pull" -> kPull, ...; none for another word. registry:2's tokens also say "*" for all.
std::optional<Actions> parse_action(std::string_view word);
// "pull,push" (the order pull, push, delete); empty for none.
std::string actions_text(Actions actions);

inline constexpr std::size_t kMaxPatternBytes = 256;

// Repository patterns, by path segment: "*" matches within a segment ("team-*"), "?" one
// character of it, a segment "**" any number of segments, none included ("public/**"
// matches "public" and everything under it; "**" every repository). A pattern longer than
// kMaxPatternBytes, or with "**" inside a segment, is refused by valid_pattern().
bool valid_pattern(std::string_view pattern, std::string* why = nullptr);
bool pattern_match(std::string_view pattern, std::string_view repository);

struct AccessRule {
  std::string repository;  // the pattern
  Actions anonymous = 0;
  Actions authenticated = 0;
  std::map<std::string, Actions, std::less<>> users;
  std::map<std::string, Actions, std::less<>> groups;
};

class AccessPolicy {
 public:
  AccessPolicy() = default;
  AccessPolicy(std::map<std::string, std::set<std::string>, std::less<>> groups, std::vector<AccessRule> rules);

  // What `user` (none: an anonymous caller) may do to `repository`.
  Actions granted(const std::optional<std::string>& user, std::string_view repository) const;
  // Whether some rule grants anything to anonymous callers.
  bool grants_anonymous() const { return anonymous_; }

 private:
  std::map<std::string, std::set<std::string>, std::less<>> member_of_;  // user -> groups
  std::vector<AccessRule> rules_;
  bool anonymous_ = false;
};

}  // namespace rs::registry
