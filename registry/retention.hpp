// Retention: rules that drop old tags, so that the garbage collection after them frees what
// only those tags kept. A rule names repositories by pattern (access.hpp's: "team/*",
// "ci/**") and says what of their tags stays:
//
//   retention:
//     - {repository: "ci/**", keep_last: 10, older_than: 720h, keep: ["latest", "v*"]}
//
// A tag matching `keep` (globs) always stays; so do the `keep_last` most recently pushed
// ones (a tag's time is when it was last set). Of the rest, a tag goes when it is older than
// `older_than`, or, without older_than, at once. The first rule whose pattern matches a
// repository is its rule; repositories no rule matches keep everything. Dropping a tag is an
// untag: its manifest stays, untagged, for `gc --delete-untagged`.
#pragma once

#include "core/digest.hpp"
#include "core/result.hpp"
#include "registry/storage_driver.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace rs::registry {

struct RetentionRule {
  std::string repository;                      // a pattern
  std::optional<std::size_t> keep_last;        // the newest N stay
  std::optional<std::chrono::seconds> older_than;
  std::vector<std::string> keep;               // tag globs that always stay
};

inline constexpr std::size_t kMaxRetentionRules = 1000;
inline constexpr std::size_t kMaxTagGlobs = 100;

struct RetentionDrop {
  std::string repository;
  std::string tag;
  Digest digest;
  std::chrono::system_clock::time_point pushed;
};

// The tags the rules drop now, by repository then tag; reads only.
std::vector<RetentionDrop> plan_retention(StorageDriver& driver, const std::vector<RetentionRule>& rules,
                                          std::chrono::system_clock::time_point now);

// Untags what the plan names, each only while it still points where the plan saw it and was
// not set again since (a push that moved it keeps it). Returns how many went; `errors` gets
// what could not be removed.
std::size_t apply_retention(StorageDriver& driver, const std::vector<RetentionDrop>& drops, std::vector<Error>& errors);

}  // namespace rs::registry
