// Garbage collection on registry:2's layout (paths.hpp), safe while registries serve the
// same root.
//
// Mark, per repository: every manifest a tag reaches, through indexes to their children,
// and (unless untagged manifests are to go) every manifest revision; then, to a fixpoint,
// every revision whose subject is kept there (signatures, SBOMs). A referrer whose subject
// is gone is not kept. The blobs of every kept manifest are marked, in all repositories.
//
// Sweep: the revisions not kept, the blobs nobody marked, the links (_layers,
// _manifests/revisions) that name a swept blob or no blob at all, then the directories left
// empty (an empty repository leaves the catalog). Nothing younger than the grace window
// goes: a blob's age is its data's `modified`, which a registry sets again (touch) whenever
// a manifest PUT, a mount or an upload references an existing blob (Store::reference_blob).
//
// Why a push during a sweep never ends with a tag whose blob is gone: each item is first
// moved aside (an atomic rename), then the blob it names is looked at again; if that blob
// was touched within the grace window the item goes back, else it is deleted. A PUT touches
// every blob it names (through an index: every child and its blobs) before it writes its
// revision link and tag, and fails (MANIFEST_BLOB_UNKNOWN) when a touch finds the blob gone.
// Either the touch comes first, and the sweep sees it and restores, or the blob was already
// moved aside, and the PUT fails and the client uploads it again. The grace window must be
// longer than any request.
//
// One collection at a time per root: it runs under the storage lock (storage_lock.hpp), and
// moves aside into _gc/trash/<owner>/ (one flat entry per item: its path, escaped), which
// the next collection first puts back (a collection killed mid-sweep is undone, then done
// again). A move aside need not be durable: a crash that undoes it leaves the item in place.
#pragma once

#include "core/digest.hpp"
#include "core/result.hpp"
#include "registry/retention.hpp"
#include "registry/storage_driver.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace rs::registry {

namespace gc_paths {
inline const std::string kDir = "/docker/registry/v2/_gc";
inline const std::string kLock = kDir + "/lock";
inline const std::string kTrash = kDir + "/trash";
}  // namespace gc_paths

struct GcProgress {
  const char* phase = "mark";  // "mark", then "sweep"
  std::uint64_t repositories = 0;
  std::uint64_t manifests = 0;  // kept so far
  std::uint64_t blobs = 0;      // looked at so far
  std::uint64_t swept = 0;      // blobs deleted so far
  std::uint64_t bytes = 0;      // freed so far
};

struct GcOptions {
  std::chrono::seconds grace{3600};  // anything younger than this is never swept
  bool delete_untagged = false;      // manifests no tag reaches (nor a kept index) go too
  bool dry_run = false;              // plan and report; change nothing, take no lock
  std::uint64_t max_manifest_bytes = 4 * 1024 * 1024;
  std::chrono::seconds lock_ttl{60};
  std::string owner;  // the lock's owner name (default: StorageLock::new_owner("gc"))
  std::function<std::chrono::system_clock::time_point()> now;  // tests; default system_clock
  std::function<void(const GcProgress&)> progress;             // now and then
  std::stop_token stop;                                        // ends a sweep between items
  // Tags these rules drop go first (retention.hpp), so that the collection frees what only
  // they kept; a dry run reports them and drops nothing.
  std::vector<RetentionRule> retention;
  // Tests: called once the plan is made, before anything is swept.
  std::function<void()> before_sweep;
};

struct GcBlob {
  Digest digest;
  std::uint64_t size = 0;
};

struct GcRevision {
  std::string repository;
  Digest digest;
  std::optional<Digest> subject;  // a referrer's subject (its index entry goes too)
};

struct GcLink {
  std::string path;  // driver path of the link file
  Digest digest;     // what it names (from its path)
};

struct GcPlan {
  std::uint64_t repositories = 0;
  std::uint64_t manifests_kept = 0;  // (repository, manifest) pairs kept
  std::uint64_t blobs_total = 0;
  std::uint64_t blobs_young = 0;        // unmarked but inside the grace window: kept
  std::uint64_t revisions_young = 0;    // not kept but inside the grace window: kept
  std::vector<GcRevision> revisions;    // manifest revisions that go (untagged, orphaned referrers)
  std::vector<GcBlob> garbage;          // blobs that go
  std::uint64_t garbage_bytes = 0;
  // Links that go with a blob that goes, or that name no blob (driver paths).
  std::vector<GcLink> links;
  // Kept manifests that could not be read or parsed: nothing is swept while there are any
  // (what they reference is unknown).
  std::vector<std::string> problems;
};

struct GcReport {
  GcPlan plan;
  bool dry_run = false;
  std::uint64_t blobs_deleted = 0;
  std::uint64_t bytes_freed = 0;
  std::uint64_t revisions_deleted = 0;
  std::uint64_t links_deleted = 0;
  std::uint64_t revived = 0;    // moved aside, then put back: referenced during the sweep
  std::uint64_t recovered = 0;  // put back from an earlier collection's trash
  std::vector<RetentionDrop> retention;  // tags the rules drop (dropped unless a dry run)
  std::uint64_t tags_dropped = 0;
  std::chrono::milliseconds took{0};
  // Who held the storage lock, and when it was taken and given back (not in a dry run).
  std::string owner;
  std::chrono::system_clock::time_point locked_at, released_at;
  std::vector<Error> errors;    // what could not be removed; the sweep went on
};

// The plan for the store under `driver`'s root; reads only.
Result<GcPlan> plan_gc(StorageDriver& driver, const GcOptions& options);

// Takes the storage lock, puts back what an interrupted collection left aside, plans,
// sweeps (unless options.dry_run) and releases the lock. Errc::conflict: another collection
// holds the lock, or the plan has problems, or the lock was lost mid-sweep.
Result<GcReport> collect_garbage(StorageDriver& driver, const GcOptions& options);

// One line: what a collection did (or, dry, would do).
std::string summarize(const GcReport& report);

}  // namespace rs::registry
