#include "registry/retention.hpp"

#include "registry/access.hpp"
#include "registry/names.hpp"
#include "registry/paths.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace rs::registry {
namespace {

constexpr std::uint64_t kMaxLinkBytes = 256;
constexpr int kMaxRepositoryDepth = 64;

void find_repositories(StorageDriver& d, const std::string& name, int depth, std::vector<std::string>& out) {
  if (depth > kMaxRepositoryDepth) return;
  auto children = d.list(name.empty() ? paths::repositories() : paths::repository(name));
  if (!children) return;
  for (const auto& child : *children) {
    if (child == "_manifests") out.push_back(name);
    else if (!child.empty() && child[0] != '_' && child[0] != '.')
      find_repositories(d, name.empty() ? child : name + "/" + child, depth + 1, out);
  }
}

bool kept_by_glob(const RetentionRule& rule, const std::string& tag) {
  for (const auto& glob : rule.keep)
    if (::fnmatch(glob.c_str(), tag.c_str(), 0) == 0) return true;
  return false;
}

}  // namespace

std::vector<RetentionDrop> plan_retention(StorageDriver& driver, const std::vector<RetentionRule>& rules,
                                          std::chrono::system_clock::time_point now) {
  std::vector<RetentionDrop> drops;
  if (rules.empty()) return drops;
  std::vector<std::string> repositories;
  find_repositories(driver, "", 0, repositories);
  std::sort(repositories.begin(), repositories.end());
  for (const auto& repo : repositories) {
    auto rule = std::find_if(rules.begin(), rules.end(), [&](const RetentionRule& r) { return pattern_match(r.repository, repo); });
    if (rule == rules.end()) continue;
    auto tags = driver.list(paths::tags_dir(repo));
    if (!tags) continue;
    struct Candidate {
      std::string tag;
      Digest digest;
      std::chrono::system_clock::time_point pushed;
    };
    std::vector<Candidate> candidates;
    for (const auto& tag : *tags) {
      if (!valid_tag(tag) || kept_by_glob(*rule, tag)) continue;
      const std::string link = paths::tag_current_link(repo, tag);
      auto info = driver.stat(link);
      auto text = driver.get_content(link, kMaxLinkBytes);
      if (!info || !text) continue;
      auto digest = Digest::parse(*text);
      if (!digest) continue;
      candidates.push_back({tag, *digest, info->modified});
    }
    // Newest first; ties by name, so that a plan is the same twice.
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      return a.pushed != b.pushed ? a.pushed > b.pushed : a.tag < b.tag;
    });
    const std::size_t keep_last = rule->keep_last.value_or(0);
    for (std::size_t i = keep_last; i < candidates.size(); ++i) {
      const auto& c = candidates[i];
      if (rule->older_than && now - c.pushed <= *rule->older_than) continue;
      drops.push_back({repo, c.tag, c.digest, c.pushed});
    }
  }
  std::sort(drops.begin(), drops.end(), [](const RetentionDrop& a, const RetentionDrop& b) {
    return a.repository != b.repository ? a.repository < b.repository : a.tag < b.tag;
  });
  return drops;
}

std::size_t apply_retention(StorageDriver& driver, const std::vector<RetentionDrop>& drops, std::vector<Error>& errors) {
  std::size_t dropped = 0;
  for (const auto& d : drops) {
    const std::string link = paths::tag_current_link(d.repository, d.tag);
    auto info = driver.stat(link);
    auto text = driver.get_content(link, kMaxLinkBytes);
    // Set again since the plan (a push): it stays.
    if (!info || !text || *text != d.digest.str() || info->modified != d.pushed) continue;
    if (auto r = driver.remove(paths::tag_dir(d.repository, d.tag)); !r) {
      errors.push_back(r.error().with_context("retention: untag " + d.repository + ":" + d.tag));
      continue;
    }
    ++dropped;
  }
  return dropped;
}

}  // namespace rs::registry
