#include "registry/access.hpp"

namespace rs::registry {
namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// Wildcard matching with one kind of star, greedy with a single backtrack point: linear in
// practice, O(n*m) at worst, no recursion. `is_star(i)` says whether pattern item i is the
// star, `same(i, j)` whether pattern item i matches subject item j.
template <typename IsStar, typename Same>
bool wildcard(std::size_t pattern_size, std::size_t subject_size, IsStar is_star, Same same) {
  std::size_t p = 0, s = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (s < subject_size) {
    if (p < pattern_size && is_star(p)) {
      star = p++;
      resume = s;
    } else if (p < pattern_size && same(p, s)) {
      ++p;
      ++s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern_size && is_star(p)) ++p;
  return p == pattern_size;
}

bool segment_match(std::string_view pattern, std::string_view segment) {
  return wildcard(
      pattern.size(), segment.size(), [&](std::size_t i) { return pattern[i] == '*'; },
      [&](std::size_t i, std::size_t j) { return pattern[i] == '?' || pattern[i] == segment[j]; });
}

}  // namespace

std::optional<Actions> parse_action(std::string_view word) {
  if (word == "pull") return kPull;
  if (word == "push") return kPush;
  if (word == "delete") return kDelete;
  if (word == "*") return kAllActions;
  return std::nullopt;
}

std::string actions_text(Actions actions) {
  std::string out;
  for (auto [bit, word] : {std::pair{kPull, "pull"}, std::pair{kPush, "push"}, std::pair{kDelete, "delete"}})
    if (actions & bit) {
      if (!out.empty()) out += ',';
      out += word;
    }
  return out;
}

bool valid_pattern(std::string_view pattern, std::string* why) {
  auto fail = [&](const char* text) {
    if (why) *why = text;
    return false;
  };
  if (pattern.empty()) return fail("is empty");
  if (pattern.size() > kMaxPatternBytes) return fail("is longer than 256 characters");
  for (auto segment : segments(pattern)) {
    if (segment.empty()) return fail("has an empty path segment");
    if (segment != "**" && segment.find("**") != std::string_view::npos)
      return fail("has '**' inside a segment ('**' stands alone between slashes)");
    for (char c : segment)
      if (c <= ' ' || c == 0x7f) return fail("has a space or control character");
  }
  return true;
}

bool pattern_match(std::string_view pattern, std::string_view repository) {
  const auto p = segments(pattern), r = segments(repository);
  return wildcard(
      p.size(), r.size(), [&](std::size_t i) { return p[i] == "**"; },
      [&](std::size_t i, std::size_t j) { return segment_match(p[i], r[j]); });
}

AccessPolicy::AccessPolicy(std::map<std::string, std::set<std::string>, std::less<>> groups,
                           std::vector<AccessRule> rules)
    : rules_(std::move(rules)) {
  for (const auto& [group, users] : groups)
    for (const auto& user : users) member_of_[user].insert(group);
  for (const auto& rule : rules_) anonymous_ = anonymous_ || rule.anonymous != 0;
}

Actions AccessPolicy::granted(const std::optional<std::string>& user, std::string_view repository) const {
  Actions out = 0;
  const std::set<std::string>* groups = nullptr;
  if (user)
    if (auto it = member_of_.find(*user); it != member_of_.end()) groups = &it->second;
  for (const auto& rule : rules_) {
    Actions could = rule.anonymous;
    if (user) {
      could |= rule.authenticated;
      if (auto it = rule.users.find(*user); it != rule.users.end()) could |= it->second;
      if (groups)
        for (const auto& [group, actions] : rule.groups)
          if (groups->count(group)) could |= actions;
    }
    // (Matching costs more than the bits: only when they would add something.)
    if ((could & ~out) && pattern_match(rule.repository, repository)) out |= could;
    if (out == kAllActions) break;
  }
  return out;
}

}  // namespace rs::registry
