#include "registry/gc.hpp"

#include "registry/manifest.hpp"
#include "registry/paths.hpp"
#include "registry/storage_lock.hpp"

#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace rs::registry {
namespace {

using Clock = std::chrono::system_clock;

constexpr std::uint64_t kMaxLinkBytes = 256;
constexpr int kMaxRepositoryDepth = 64;  // a name is at most 255 characters
constexpr int kMaxIndexDepth = 16;
constexpr std::uint64_t kProgressEvery = 256;

const DigestAlgorithm kAlgorithms[] = {DigestAlgorithm::sha256, DigestAlgorithm::sha512};

std::string algorithm_name(DigestAlgorithm a) { return a == DigestAlgorithm::sha256 ? "sha256" : "sha512"; }

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

std::vector<std::string> list_or_empty(StorageDriver& d, const std::string& path) {
  auto names = d.list(path);
  return names ? std::move(*names) : std::vector<std::string>{};
}

// The digests named by the directories under `dir` (<hex> for `alg`), malformed ones skipped.
std::vector<Digest> digests_in(StorageDriver& d, const std::string& dir, DigestAlgorithm alg) {
  std::vector<Digest> out;
  for (const auto& hex : list_or_empty(d, dir))
    if (auto digest = Digest::parse(algorithm_name(alg) + ":" + hex)) out.push_back(*digest);
  return out;
}

// The digest a link file names; none when it is absent or malformed.
std::optional<Digest> read_link(StorageDriver& d, const std::string& path) {
  auto text = d.get_content(path, kMaxLinkBytes);
  if (!text) return std::nullopt;
  auto digest = Digest::parse(*text);
  if (!digest) return std::nullopt;
  return *digest;
}

// Repositories: directories under repositories/ holding _manifests, _layers or _uploads;
// other children not starting with '_' may be repositories nested under it.
void find_repositories(StorageDriver& d, const std::string& name, int depth, std::vector<std::string>& out) {
  if (depth > kMaxRepositoryDepth) return;
  const std::string dir = name.empty() ? paths::repositories() : paths::repository(name);
  bool is_repository = false;
  for (const auto& child : list_or_empty(d, dir)) {
    if (child == "_manifests" || child == "_layers" || child == "_uploads") is_repository = true;
    else if (!child.empty() && child[0] != '_' && child[0] != '.')
      find_repositories(d, name.empty() ? child : name + "/" + child, depth + 1, out);
  }
  if (is_repository) out.push_back(name);
}

// What a manifest references, read and parsed once per collection.
struct ManifestInfo {
  bool missing = false;  // no data: a dangling link, not a doubt
  std::string problem;   // unreadable or unparsable
  std::vector<Digest> blobs;
  std::vector<Digest> children;
  std::optional<Digest> subject;
};

class Marker {
 public:
  Marker(StorageDriver& driver, const GcOptions& options, GcPlan& plan)
      : driver_(driver), options_(options), plan_(plan) {}

  const ManifestInfo& info(const Digest& d) {
    auto [it, added] = infos_.try_emplace(d.str());
    if (!added) return it->second;
    ManifestInfo& info = it->second;
    auto bytes = driver_.get_content(paths::blob_data(d), options_.max_manifest_bytes);
    if (!bytes) {
      if (bytes.error().code == Errc::not_found) info.missing = true;
      else info.problem = bytes.error().message;
      return info;
    }
    auto parsed = parse_manifest(*bytes, stored_media_type(*bytes));
    if (!parsed) {
      info.problem = parsed.error().message;
      return info;
    }
    for (const auto& b : parsed->blobs)
      if (!b.has_urls) info.blobs.push_back(b.digest);
    for (const auto& c : parsed->manifests) info.children.push_back(c.digest);
    if (parsed->subject) info.subject = parsed->subject->digest;
    return info;
  }

  // Keeps a manifest in `kept` (one repository's) and marks everything it reaches.
  void keep(std::set<std::string>& kept, const Digest& d, const std::string& where, int depth = 0) {
    if (depth > kMaxIndexDepth || !kept.insert(d.str()).second) return;
    ++plan_.manifests_kept;
    marked_.insert(d.str());
    const ManifestInfo& i = info(d);
    if (!i.problem.empty()) plan_.problems.push_back(where + ": manifest " + d.str() + ": " + i.problem);
    for (const auto& b : i.blobs) marked_.insert(b.str());
    for (const auto& c : i.children) keep(kept, c, where, depth + 1);
  }

  bool marked(const std::string& digest) const { return marked_.count(digest) > 0; }

 private:
  StorageDriver& driver_;
  const GcOptions& options_;
  GcPlan& plan_;
  std::unordered_map<std::string, ManifestInfo> infos_;
  std::unordered_set<std::string> marked_;
};

bool young(const FileInfo& info, Clock::time_point now, std::chrono::seconds grace) {
  return now - info.modified < grace;
}

}  // namespace

Result<GcPlan> plan_gc(StorageDriver& driver, const GcOptions& options) {
  GcPlan plan;
  Marker marker(driver, options, plan);
  const auto now = options.now ? options.now() : Clock::now();
  GcProgress progress;
  auto report = [&](bool always) {
    if (options.progress && (always || (progress.repositories + progress.blobs) % kProgressEvery == 0))
      options.progress(progress);
  };

  std::vector<std::string> repositories;
  find_repositories(driver, "", 0, repositories);
  plan.repositories = repositories.size();

  // Mark, one repository at a time: what its tags reach, its revisions (unless untagged
  // ones go), then its referrers whose subject it keeps, to a fixpoint (a signature of a
  // signature).
  for (const auto& repo : repositories) {
    std::set<std::string> kept;
    for (const auto& tag : list_or_empty(driver, paths::tags_dir(repo)))
      if (auto d = read_link(driver, paths::tag_current_link(repo, tag))) marker.keep(kept, *d, repo + ":" + tag);
    std::vector<Digest> revisions;
    for (auto alg : kAlgorithms)
      for (auto& d : digests_in(driver, paths::revisions_dir(repo, alg), alg)) revisions.push_back(d);
    std::vector<const Digest*> referrers;
    for (const auto& d : revisions) {
      const ManifestInfo& i = marker.info(d);
      if (i.subject) referrers.push_back(&d);
      // Never dropped on doubt: an unreadable revision is kept (and named as a problem).
      else if (!options.delete_untagged || !i.problem.empty()) marker.keep(kept, d, repo + "@" + d.str());
    }
    // A revision inside the grace window is kept, with what it references (as young as it);
    // before the referrers, whose subject it may be.
    auto keep_if_young = [&](const Digest& d) {
      if (kept.count(d.str()) || marker.info(d).missing) return;
      if (auto data = driver.stat(paths::blob_data(d)); data && young(*data, now, options.grace)) {
        ++plan.revisions_young;
        marker.keep(kept, d, repo + "@" + d.str());
      }
    };
    for (const auto& d : revisions)
      if (!marker.info(d).subject) keep_if_young(d);
    for (bool grew = true; grew;) {
      grew = false;
      for (const Digest* d : referrers)
        if (!kept.count(d->str()) && kept.count(marker.info(*d).subject->str())) {
          marker.keep(kept, *d, repo + "@" + d->str());
          grew = true;
        }
    }
    for (const Digest* d : referrers) keep_if_young(*d);
    for (const auto& d : revisions)
      if (!kept.count(d.str())) plan.revisions.push_back({repo, d, marker.info(d).subject});
    ++progress.repositories;
    progress.manifests = plan.manifests_kept;
    report(false);
  }

  // Every blob: the unmarked and old ones go.
  std::unordered_set<std::string> present, garbage;
  for (auto alg : kAlgorithms) {
    const std::string alg_dir = paths::kRoot + "/blobs/" + algorithm_name(alg);
    for (const auto& prefix : list_or_empty(driver, alg_dir))
      for (const auto& d : digests_in(driver, alg_dir + "/" + prefix, alg)) {
        auto data = driver.stat(paths::blob_data(d));
        if (!data || data->is_dir) continue;  // a directory without data: nothing to free
        ++plan.blobs_total;
        ++progress.blobs;
        report(false);
        present.insert(d.str());
        if (marker.marked(d.str())) continue;
        if (young(*data, now, options.grace)) {
          ++plan.blobs_young;
          continue;
        }
        plan.garbage.push_back({d, data->size});
        plan.garbage_bytes += data->size;
        garbage.insert(d.str());
      }
  }

  // The links that name a blob that goes, or no blob at all. A revision that goes takes its
  // own link along (GcPlan::revisions).
  std::set<std::string> leaving;
  for (const auto& r : plan.revisions) leaving.insert(paths::revision_link(r.repository, r.digest));
  for (const auto& repo : repositories)
    for (auto alg : kAlgorithms) {
      const std::string layers = paths::repository(repo) + "/_layers/" + algorithm_name(alg);
      for (const auto& d : digests_in(driver, layers, alg))
        if (garbage.count(d.str()) || !present.count(d.str())) plan.links.push_back({paths::layer_link(repo, d), d});
      for (const auto& d : digests_in(driver, paths::revisions_dir(repo, alg), alg))
        if ((garbage.count(d.str()) || !present.count(d.str())) && !leaving.count(paths::revision_link(repo, d)))
          plan.links.push_back({paths::revision_link(repo, d), d});
    }
  report(true);
  return plan;
}

namespace {

// The trash is flat (one rename per item, no directories to make): a driver path with '%'
// and '/' escaped is a file name; one longer than kMaxTrashName goes under kNested, at its
// path.
constexpr std::size_t kMaxTrashName = 240;
constexpr int kMaxTrashDepth = 300;
const std::string kNested = "nested";

std::string trash_name(const std::string& path) {
  std::string out;
  for (char c : path.substr(paths::kRoot.size())) {
    if (c == '%') out += "%25";
    else if (c == '/') out += "%2F";
    else out += c;
  }
  return out;
}

// Only what a sweep moves aside goes back: a blob's data or a link.
bool sweepable(const std::string& path) {
  if (path.find("/../") != std::string::npos || path.find("/./") != std::string::npos) return false;
  return (path.rfind(paths::kRoot + "/blobs/", 0) == 0 && path.ends_with("/data")) ||
         (path.rfind(paths::repositories() + "/", 0) == 0 && path.ends_with("/link"));
}

std::optional<std::string> path_of_trash_name(const std::string& name) {
  std::string out = paths::kRoot;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '%') {
      out += name[i];
    } else if (name.compare(i, 3, "%25") == 0) {
      out += '%';
      i += 2;
    } else if (name.compare(i, 3, "%2F") == 0) {
      out += '/';
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return sweepable(out) ? std::optional<std::string>(out) : std::nullopt;
}

// One sweep: every item is moved aside into the trash, the blob it names looked at again,
// and then deleted or put back (gc.hpp says why).
class Sweeper {
 public:
  Sweeper(StorageDriver& driver, const GcOptions& options, GcReport& report, StorageLock& lock)
      : driver_(driver), options_(options), report_(report), lock_(lock),
        trash_(gc_paths::kTrash + "/" + lock.owner().substr(lock.owner().rfind('/') + 1)) {}

  enum class Outcome { deleted, revived, absent, failed };

  // Sets `path` aside; deletes it unless the blob `named` was touched within the grace
  // window (then it goes back). `named` may be the item itself, once aside.
  Outcome sweep(const std::string& path, const Digest& named, bool item_is_blob) {
    std::string aside = trash_ + "/" + trash_name(path);
    // A name too long for one directory entry (a long repository name): kept nested.
    if (aside.size() - trash_.size() > kMaxTrashName) aside = trash_ + "/" + kNested + path.substr(paths::kRoot.size());
    // Not synced: a crash that undoes the move leaves the item where it was.
    if (auto moved = driver_.move(path, aside, false); !moved) {
      if (moved.error().code == Errc::not_found) return Outcome::absent;
      report_.errors.push_back(moved.error());
      return Outcome::failed;
    }
    auto data = driver_.stat(item_is_blob ? aside : paths::blob_data(named));
    if (data && young(*data, now(), options_.grace)) {
      if (auto back = driver_.move(aside, path); !back) {
        report_.errors.push_back(back.error().with_context("put back"));
        return Outcome::failed;
      }
      ++report_.revived;
      return Outcome::revived;
    }
    if (auto r = driver_.remove(aside); !r) report_.errors.push_back(r.error());
    return Outcome::deleted;
  }

  // Between items: stops when asked, refreshes the lock, reports progress.
  Result<void> step() {
    if (options_.stop.stop_requested()) return make_error(Errc::conflict, "stopped");
    if (auto r = lock_.refresh_if_due(); !r) return r;
    if (options_.progress && ++steps_ % kProgressEvery == 0) options_.progress(progress());
    return ok();
  }

  GcProgress progress() const {
    GcProgress p;
    p.phase = "sweep";
    p.repositories = report_.plan.repositories;
    p.manifests = report_.plan.manifests_kept;
    p.blobs = report_.plan.blobs_total;
    p.swept = report_.blobs_deleted;
    p.bytes = report_.bytes_freed;
    return p;
  }

  Result<void> run() {
    const GcPlan& plan = report_.plan;
    for (const auto& r : plan.revisions) {
      if (auto s = step(); !s) return s;
      if (sweep(paths::revision_link(r.repository, r.digest), r.digest, false) != Outcome::deleted) continue;
      ++report_.revisions_deleted;
      // Its traces: the tags' histories that name it, its subject index entry, its directory.
      for (const auto& tag : list_or_empty(driver_, paths::tags_dir(r.repository)))
        if (auto rm = driver_.remove(parent_of(paths::tag_index_link(r.repository, tag, r.digest))); !rm)
          report_.errors.push_back(rm.error());
      if (r.subject)
        if (auto rm = driver_.remove(parent_of(paths::referrer_descriptor(r.repository, *r.subject, r.digest))); !rm)
          report_.errors.push_back(rm.error());
      (void)driver_.remove_empty_dirs(parent_of(paths::revision_link(r.repository, r.digest)));
    }
    for (const auto& g : plan.garbage) {
      if (auto s = step(); !s) return s;
      const Outcome o = sweep(paths::blob_data(g.digest), g.digest, true);
      if (o == Outcome::deleted) {
        ++report_.blobs_deleted;
        report_.bytes_freed += g.size;
      }
      if (o == Outcome::deleted || o == Outcome::absent) (void)driver_.remove_empty_dirs(paths::blob_dir(g.digest));
    }
    // Every link of the plan: deleted unless its blob is back (or new) and young.
    for (const auto& l : plan.links) {
      if (auto s = step(); !s) return s;
      if (sweep(l.path, l.digest, false) == Outcome::deleted) {
        ++report_.links_deleted;
        (void)driver_.remove_empty_dirs(parent_of(l.path));
      }
    }
    return ok();
  }

  // Directories left empty: repositories (out of the catalog), blob prefixes, the trash.
  void tidy() {
    for (const auto& dir : {paths::repositories(), paths::kRoot + "/blobs", gc_paths::kTrash})
      if (auto r = driver_.remove_empty_dirs(dir); !r) report_.errors.push_back(r.error());
  }

 private:
  Clock::time_point now() const { return options_.now ? options_.now() : Clock::now(); }

  StorageDriver& driver_;
  const GcOptions& options_;
  GcReport& report_;
  StorageLock& lock_;
  const std::string trash_;
  std::uint64_t steps_ = 0;
};

void put_back(StorageDriver& driver, const std::string& from, const std::string& to, GcReport& report) {
  if (driver.stat(to)) {
    (void)driver.remove(from);
  } else if (auto r = driver.move(from, to); !r) {
    report.errors.push_back(r.error().with_context("recover"));
  } else {
    ++report.recovered;
  }
}

// The nested part of a trash: `dir` holds what was at `original`.
void recover_nested(StorageDriver& driver, const std::string& dir, const std::string& original, int depth,
                    GcReport& report) {
  if (depth > kMaxTrashDepth) return;
  for (const auto& name : list_or_empty(driver, dir)) {
    const std::string path = dir + "/" + name, target = original + "/" + name;
    auto info = driver.stat(path);
    if (!info) continue;
    if (info->is_dir) recover_nested(driver, path, target, depth + 1, report);
    else if (sweepable(target)) put_back(driver, path, target, report);
  }
}

// Puts back everything an interrupted collection left in its trash (where nothing is in
// its place now); this collection then judges it again.
void recover_trash(StorageDriver& driver, const std::string& dir, GcReport& report) {
  for (const auto& name : list_or_empty(driver, dir)) {
    const std::string path = dir + "/" + name;
    if (name == kNested) {
      recover_nested(driver, path, paths::kRoot, 0, report);
      continue;
    }
    auto target = path_of_trash_name(name);
    if (!target) {
      report.errors.push_back(make_error(Errc::invalid_argument, "'" + path + "' is not a sweep's: left alone"));
      continue;
    }
    put_back(driver, path, *target, report);
  }
}

}  // namespace

Result<GcReport> collect_garbage(StorageDriver& driver, const GcOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  GcReport report;
  report.dry_run = options.dry_run;
  auto took = [&] {
    report.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  };
  const auto now = options.now ? options.now() : Clock::now();
  if (options.dry_run) {
    report.retention = plan_retention(driver, options.retention, now);
    auto plan = plan_gc(driver, options);
    if (!plan) return plan.error();
    report.plan = std::move(*plan);
    took();
    return report;
  }
  auto lock = StorageLock::acquire(driver, gc_paths::kLock, options.owner.empty() ? StorageLock::new_owner("gc") : options.owner,
                                   options.lock_ttl, options.now);
  if (!lock) return lock.error();
  report.owner = lock->owner();
  report.locked_at = Clock::now();
  for (const auto& owner : list_or_empty(driver, gc_paths::kTrash))
    recover_trash(driver, gc_paths::kTrash + "/" + owner, report);
  (void)driver.remove_empty_dirs(gc_paths::kTrash);

  // Retention first, so that this collection frees what only the dropped tags kept.
  report.retention = plan_retention(driver, options.retention, now);
  report.tags_dropped = apply_retention(driver, report.retention, report.errors);
  auto plan = plan_gc(driver, options);
  if (!plan) return plan.error();
  report.plan = std::move(*plan);
  if (!report.plan.problems.empty())
    return make_error(Errc::conflict, "nothing swept: " + std::to_string(report.plan.problems.size()) +
                                          " kept manifest(s) cannot be read, first " + report.plan.problems.front());
  if (auto r = lock->refresh(); !r) return r.error();
  if (options.before_sweep) options.before_sweep();
  Sweeper sweeper(driver, options, report, *lock);
  auto swept = sweeper.run();
  sweeper.tidy();
  if (!swept) return swept.error().with_context("sweep stopped after " + std::to_string(report.blobs_deleted) + " blobs");
  report.released_at = Clock::now();
  lock->release();
  took();
  return report;
}

std::string summarize(const GcReport& r) {
  const GcPlan& p = r.plan;
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  if (r.dry_run)
    return "gc (dry run): " + n(p.repositories) + " repositories, " + n(p.manifests_kept) + " manifests kept, " +
           n(p.blobs_total) + " blobs; would delete " + n(p.garbage.size()) + " blobs (" + n(p.garbage_bytes) +
           " bytes), " + n(p.revisions.size()) + " manifest revisions, " + n(p.links.size()) + " links; " +
           n(p.blobs_young + p.revisions_young) + " kept in the grace window" +
           (r.retention.empty() ? "" : "; retention would drop " + n(r.retention.size()) + " tags");
  return "gc: " + n(p.repositories) + " repositories, " + n(p.manifests_kept) + " manifests kept, " + n(p.blobs_total) +
         " blobs; deleted " + n(r.blobs_deleted) + " blobs (" + n(r.bytes_freed) + " bytes), " +
         n(r.revisions_deleted) + " manifest revisions, " + n(r.links_deleted) + " links; " +
         n(p.blobs_young + p.revisions_young) + " kept in the grace window, " + n(r.revived) +
         " referenced during the sweep, " + n(r.recovered) + " recovered; " +
         (r.retention.empty() ? "" : "retention dropped " + n(r.tags_dropped) + " tags; ") + n(r.took.count()) + " ms";
}

}  // namespace rs::registry
