#include "agent/modules/action.hpp"

#include <algorithm>

namespace rs::agent {

bool Diff::has(ChangeKind kind) const {
  return std::any_of(changes.begin(), changes.end(), [&](const Change& c) { return c.kind == kind; });
}

bool Diff::settled() const {
  return files.empty() && std::all_of(changes.begin(), changes.end(), [](const Change& c) { return c.every_run; });
}

std::string Diff::first_unsettled() const {
  if (!files.empty()) return "'" + files.front().path + "'";
  for (const auto& c : changes)
    if (!c.every_run) return c.text;
  return {};
}

}  // namespace rs::agent
