// The registry's storage vocabulary (blobs, uploads, manifests, tags, repositories) on a
// StorageDriver, in registry:2's layout (paths.hpp). Inputs are validated by the caller.
// Thread-safe: uploads are serialised per upload id, a PUT and a DELETE of one manifest
// per repository and digest, scans into the subject index one at a time; everything else
// relies on atomic renames in the driver.
#pragma once

#include "core/digest.hpp"
#include "core/result.hpp"
#include "registry/manifest.hpp"
#include "registry/storage_driver.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

namespace rs::registry {

class Store;

// Every limit the store keeps to. The defaults are the config's (config.hpp).
struct StoreOptions {
  // Manifests are accepted (API) and read back up to this size: limits.max_manifest_bytes.
  std::uint64_t max_manifest_bytes = 4 * 1024 * 1024;
  std::size_t manifest_cache_bytes = 16 * 1024 * 1024;
  std::size_t tag_cache_entries = 65536;
  // A link file holds "sha512:<128 hex>" at most: anything longer is not a link.
  std::uint64_t max_link_bytes = 256;
  // Reads while hashing an upload's data again (after a restart, for another algorithm).
  std::size_t hash_buffer_bytes = 1 << 20;
  // Uploads open at once (started, not yet committed, cancelled or purged), in one
  // repository and in all: limits.max_uploads_per_repository and limits.max_uploads.
  std::size_t max_uploads_per_repository = 1000;
  std::size_t max_uploads = 100000;
};

// What one purge_uploads pass removed, or in a dry run would remove.
struct PurgeReport {
  struct Item {
    std::string path;  // driver path: an upload's directory or a temp file
    bool upload = false;
    std::uint64_t bytes = 0;
    std::chrono::system_clock::time_point since;  // the upload's start, the file's last change
  };
  std::vector<Item> items;
  std::size_t uploads = 0;
  std::size_t temp_files = 0;
  std::uint64_t bytes = 0;
  // What could not be read or removed; the pass went on with the rest.
  std::vector<Error> errors;
};

// Appends to one upload, hashing as it goes. Exclusive: a second open of the same upload
// fails with Errc::conflict while this one lives.
class UploadWriter {
 public:
  ~UploadWriter();
  UploadWriter(const UploadWriter&) = delete;
  UploadWriter& operator=(const UploadWriter&) = delete;

  Result<void> write(const char* data, std::size_t size);
  // Where the next bytes may be received to save a copy (see FileWriter::buffer).
  std::span<char> buffer() { return file_->buffer(); }
  // Hands the bytes written so far to storage: a later request continues from them.
  Result<void> flush() { return file_->flush(); }
  std::uint64_t size() const { return file_->size(); }
  const std::string& repository() const { return repo_; }
  const std::string& id() const { return id_; }

 private:
  friend class Store;
  struct State;
  UploadWriter(Store& store, std::string repo, std::string id, std::unique_ptr<FileWriter> file, State* state);

  Store& store_;
  std::string repo_;
  std::string id_;
  std::unique_ptr<FileWriter> file_;
  State* state_;
};

// A manifest's bytes and the media type they declare (Content-Type of GET and HEAD).
struct ManifestContent {
  std::string bytes;
  std::string media_type;
};

struct StoredManifest {
  Digest digest;
  std::string bytes;
  std::string media_type;
};

// Manifests by digest, parsed once. Content-addressed data never changes, so an entry
// stays valid as long as the digest is the same; whether a repository has the manifest is
// still asked of storage each time. Bounded by bytes: emptied when the next would not fit.
class ManifestCache {
 public:
  explicit ManifestCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  std::shared_ptr<const ManifestContent> find(const Digest& d);
  void insert(const Digest& d, std::shared_ptr<const ManifestContent> content);

 private:
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const ManifestContent>> entries_;
};

// Which digest a tag's link file held, by the file's version: a tag resolves with one
// stat() while its link is unchanged. Links are replaced by rename, so a new tag gets a new
// inode and new times, even when written by another process sharing the directory.
class TagCache {
 public:
  explicit TagCache(std::size_t max_entries) : max_entries_(max_entries) {}
  std::optional<Digest> find(const std::string& path, const FileVersion& version);
  void insert(const std::string& path, const FileVersion& version, const Digest& d);
  void erase(const std::string& path);

 private:
  struct Entry {
    FileVersion version;
    Digest digest;
  };
  std::size_t max_entries_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

// Which referrers of a subject one listing asks for (sorted by digest).
struct ReferrerQuery {
  std::string artifact_type;  // only these (empty: any)
  std::string after;          // only digests after this one (empty: from the first)
  std::size_t limit = SIZE_MAX;
};

struct ReferrerPage {
  std::vector<Referrer> referrers;
  bool more = false;  // others follow the last one
};

class Store {
 public:
  explicit Store(StorageDriver& driver, StoreOptions options = {});
  ~Store();

  const StoreOptions& options() const { return options_; }

  // Blobs. A blob is visible in a repository when it is linked there (as a layer or as a
  // manifest revision) and its data exists.
  Result<std::uint64_t> blob_size(const std::string& repo, const Digest& d);
  Result<std::unique_ptr<FileReader>> open_blob(const Digest& d);
  Result<void> link_blob(const std::string& repo, const Digest& d);
  Result<void> unlink_blob(const std::string& repo, const Digest& d);
  // A manifest being stored references this blob: Errc::not_found unless `repo` has it;
  // touches its data (see gc.hpp: a blob touched within the grace window is never swept).
  Result<void> reference_blob(const std::string& repo, const Digest& d);
  // The same for a manifest an index references: touches it and, through it, every blob and
  // manifest it reaches.
  Result<void> reference_manifest(const std::string& repo, const Digest& d);
  // Links a blob from `from` into `repo`; Errc::not_found if `from` does not have it.
  Result<void> mount_blob(const std::string& repo, const std::string& from, const Digest& d);
  // Links a blob the registry holds (in any repository) into `repo`; Errc::not_found if
  // its data is not there.
  Result<void> mount_stored_blob(const std::string& repo, const Digest& d);

  // Uploads. Errc::conflict when the repository or the registry already has as many
  // uploads open as StoreOptions allow.
  Result<std::string> create_upload(const std::string& repo);
  Result<std::uint64_t> upload_size(const std::string& repo, const std::string& id);
  Result<std::unique_ptr<UploadWriter>> open_upload(const std::string& repo, const std::string& id);
  // Verifies the content against `expected`, makes it durable, moves it into place and
  // links it. On a mismatch the upload is removed and Errc::invalid_argument returned.
  Result<std::uint64_t> commit_upload(std::unique_ptr<UploadWriter> writer, const Digest& expected);
  Result<void> cancel_upload(const std::string& repo, const std::string& id);
  // Uploads open now: in `repo`, or in all repositories (counted from storage when the
  // store is made, then kept up to date).
  std::size_t open_uploads(const std::string& repo);
  std::size_t open_uploads();
  // Removes what unfinished writes left behind before `older_than`: uploads by their start
  // time (the startedat file, else the last change of the upload's directory and data), and
  // write_file_atomic's temp files by their last change. An upload a request holds is kept.
  // `dry_run`: reports only. Stops between entries once `stop` is requested.
  PurgeReport purge_uploads(std::chrono::system_clock::time_point older_than, bool dry_run,
                            std::stop_token stop = {});

  // Manifests and tags.
  Result<Digest> resolve_tag(const std::string& repo, const std::string& tag);
  Result<StoredManifest> get_manifest(const std::string& repo, const Digest& d);
  bool has_manifest(const std::string& repo, const Digest& d);
  // `parsed` is what parse_manifest made of `bytes`. A manifest with a subject gets its
  // subject index entry before its revision link: a revision never lacks its entry.
  Result<void> put_manifest(const std::string& repo, const Digest& d, std::string_view bytes, const Manifest& parsed);
  Result<void> tag(const std::string& repo, const std::string& tag, const Digest& d);
  Result<void> untag(const std::string& repo, const std::string& tag);
  // Removes the revision, then its subject index entry and every tag that points at it.
  Result<void> delete_manifest(const std::string& repo, const Digest& d);
  Result<std::vector<Digest>> list_manifests(const std::string& repo);
  // The manifests in `repo` whose subject is `subject`, from the subject index; a
  // repository whose index is not complete is scanned into it first (once).
  Result<ReferrerPage> list_referrers(const std::string& repo, const Digest& subject, const ReferrerQuery& query);

  // Listings, sorted. Errc::not_found for a repository that does not exist.
  Result<std::vector<std::string>> list_tags(const std::string& repo);
  Result<std::vector<std::string>> list_repositories();
  bool repository_has_manifests(const std::string& repo);

 private:
  friend class UploadWriter;
  struct PurgePass;
  void release_upload(UploadWriter& writer);
  // Takes an upload for this caller alone (as a writer does): Errc::conflict if it is taken.
  Result<UploadWriter::State*> take_upload(const std::string& repo, const std::string& id);
  // The upload is gone from storage (or never was): forgets its state, and counts it no more
  // if `removed`.
  void forget_upload(const std::string& repo, const std::string& id, bool removed);
  void count_uploads();
  void purge_tree(const std::string& dir, PurgePass& pass);
  void purge_uploads_of(const std::string& repo, PurgePass& pass);
  void purge_temp_file(const std::string& path, PurgePass& pass);
  std::optional<std::chrono::system_clock::time_point> upload_started(const std::string& repo, const std::string& id);
  Result<Digest> read_link(const std::string& path);
  // A manifest's bytes by digest (the cache, else storage), whichever repository has it.
  Result<std::shared_ptr<const ManifestContent>> get_manifest_bytes(const Digest& d);
  static constexpr int kMaxIndexDepth = 8;
  Result<void> touch_manifest_tree(const Digest& d, int depth);
  // Serialises a PUT and a DELETE of one manifest, so that its index entry and its
  // revision agree (each writes both, in opposite orders).
  std::mutex& manifest_lock(const std::string& repo, const Digest& d);
  Result<void> index_referrer(const std::string& repo, const Digest& d, std::uint64_t size, const Manifest& parsed);
  // Enters every revision with a subject into the index, then marks it complete.
  Result<void> complete_referrers_index(const std::string& repo);
  Result<std::vector<Digest>> indexed_referrers(const std::string& repo, const Digest& subject);
  // Hashes the first `limit` bytes of a file (all of it by default).
  Result<Hasher> hash_file(const std::string& path, DigestAlgorithm algorithm,
                           std::uint64_t limit = UINT64_MAX);

  StorageDriver& driver_;
  const StoreOptions options_;
  ManifestCache manifests_;
  TagCache tags_;
  std::mutex uploads_mutex_;
  std::unordered_map<std::string, std::unique_ptr<UploadWriter::State>> uploads_;
  // Upload directories in storage, by repository and in all (under uploads_mutex_).
  std::unordered_map<std::string, std::size_t> upload_counts_;
  std::size_t upload_total_ = 0;
  std::array<std::mutex, 64> manifest_locks_;
  // One scan into a subject index at a time: a second listing waits and finds it complete.
  std::mutex index_scan_mutex_;
};

}  // namespace rs::registry
