// Host name ranges as Ansible's inventories write them (expand_hostname_range in
// ansible/plugins/inventory/__init__.py): "www[01:50].example.com", "db-[a:f]", a step
// "[01:50:2]", several ranges in one name.
#pragma once

#include "agent/run/inventory_source.hpp"
#include "core/result.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace rs::agent {

// Expanded names of one range line at most (bytes of all names together): a 60 KiB name
// repeated 100000 times is a problem, not 6 GB.
inline constexpr std::size_t kMaxExpandedHostBytes = 64 * 1024 * 1024;

// Every name `name` stands for, the first range outermost ("r[1:2]-n[a:b]" is r1-na r1-nb
// r2-na r2-nb); a name without '[' is itself. As Ansible:
//   [begin:end] or [begin:end:step], both ends included, step 1 by default;
//   numbers: a begin with a leading zero ("01") sets the width of every name, and end must
//     then be as wide; an empty begin is 0;
//   letters: one letter each, in the order a..z then A..Z ("[x:B]" is x y z A B).
// Errors (Errc::invalid_argument, the name in the message): begin after end (Ansible gives
// no names for numbers), letters mixed with numbers, a step of 0 or not a number, '[' without
// ']' or ']' before '[', an empty range "[]", no end, more than `limit` names or more than
// kMaxExpandedHostBytes of them.
Result<std::vector<std::string>> expand_host_range(const std::string& name, std::size_t limit = kMaxInventoryHosts);

}  // namespace rs::agent
