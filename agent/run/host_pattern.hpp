// Ansible's host patterns (ansible-core 2.14, lib/ansible/inventory/manager.py), matched
// against any inventory seen through a small view.
//
// Grammar, as split_host_pattern, order_patterns and _match_one_pattern have it:
//   pattern   = terms separated by ',' (then ':' is no separator at all); without a ',' the
//               whole pattern is one term if it reads as an address (an IPv6 address, a
//               host with ":port", a host range "db[1:3]"), else ':' and whitespace separate
//               except inside "[...]". Terms are trimmed; empty ones are dropped.
//   term      = ["!" | "&"] ( "~" regex | name-or-glob [subscript] )
//   subscript = "[" i "]" (i may be negative) | "[" a ":" b "]" (b inclusive) | "[" a ":]"
//               ("[a-b]" is the old spelling of "[a:b]"); "[:b]" is no subscript in 2.14.
// Plain terms first, then "&" terms, then "!" terms, whatever the order written; only "!"
// and "&" terms start from "all". A name or glob matches the groups it names (all their
// hosts) and, if no group matched or it is a glob, the hosts it names; a regex (Python's
// re.match: anchored at the start only) matches group and host names the same way.
#pragma once

#include "core/result.hpp"

#include <cstddef>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rs::agent {

// Each host with every group it is in ("all" included), in inventory order.
using PatternHosts = std::vector<std::pair<std::string, std::set<std::string>>>;

// The inventory as a pattern sees it; both refer to the caller's data, which must outlive
// the view. A group's hosts are the hosts whose set names it, in inventory order.
struct HostPatternView {
  const PatternHosts& hosts;
  // Every group, empty ones too. "all" is a group whether listed or not.
  const std::set<std::string>& groups;
};

inline constexpr std::size_t kMaxHostPatternLength = 65536;
// A "~regex" term's regex (std::regex, ECMAScript), without the '~'.
inline constexpr std::size_t kMaxHostPatternRegexLength = 512;

// The terms of a pattern, as Ansible's split_host_pattern returns them.
std::vector<std::string> split_host_pattern(const std::string& pattern);

// Host names the pattern selects, each once, in the order its terms found them (as
// ansible-core's _evaluate_patterns: `db:web` lists db's hosts first; a group's hosts and a
// glob's matches come in inventory order). Errors: a plain name
// (no '~', '*' or '?') that is neither host nor group (not_found), a single subscript out of
// range (not_found), a bad or over-long regex, an over-long pattern, a pattern with no
// terms, a lone '!' or '&' (invalid_argument). A glob or regex matching nothing is no error.
Result<std::vector<std::string>> match_host_pattern(const std::string& pattern, const HostPatternView& inventory);

}  // namespace rs::agent
