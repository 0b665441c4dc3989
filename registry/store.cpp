#include "registry/store.hpp"

#include "core/atomic_file.hpp"
#include "core/random.hpp"

#include "registry/manifest.hpp"
#include "registry/names.hpp"
#include "registry/paths.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>

namespace rs::registry {

struct UploadWriter::State {
  Hasher hasher{DigestAlgorithm::sha256};
  std::uint64_t offset = 0;  // bytes the hasher has seen
  bool busy = false;
};

namespace {

std::string upload_key(const std::string& repo, const std::string& id) { return repo + '\n' + id; }

// 128 bits from the kernel's CSPRNG in UUID form: one id seen tells nothing of the others
// (a per-thread mt19937 seeded with 32 bits did).
std::string new_upload_id() {
  auto hex = random_hex(16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

std::string rfc3339_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

// `n` digits at `pos` of `s` into `out`.
bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// An RFC 3339 time as registry:2 writes to startedat ("2006-01-02T15:04:05Z", any offset,
// fractions of a second ignored); nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':' || !read_digits(s, 0, 4, y) || !read_digits(s, 5, 2, mo) || !read_digits(s, 8, 2, d) ||
      !read_digits(s, 11, 2, h) || !read_digits(s, 14, 2, mi) || !read_digits(s, 17, 2, sec))
    return std::nullopt;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    const std::size_t digits = ++pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == digits) return std::nullopt;
  }
  seconds offset{0};
  if (pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    pos += 1;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    int oh = 0, om = 0;
    if (!read_digits(s, pos + 1, 2, oh) || !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = hours(oh) + minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  const year_month_day date{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!date.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const auto local = sys_days(date) + hours(h) + minutes(mi) + seconds(sec);
  return time_point_cast<system_clock::duration>(local - offset);
}

// The names of the layout's files: not worth a list(2) each while walking the tree.
bool is_layout_file_name(std::string_view n) {
  return n == "link" || n == "data" || n == "startedat" || n == "descriptor" || n == "complete";
}

}  // namespace

struct Store::PurgePass {
  std::chrono::system_clock::time_point older_than;
  bool dry_run = false;
  std::stop_token stop;
  PurgeReport report;

  void found(std::string path, bool upload, std::uint64_t bytes, std::chrono::system_clock::time_point since) {
    (upload ? report.uploads : report.temp_files) += 1;
    report.bytes += bytes;
    report.items.push_back({std::move(path), upload, bytes, since});
  }
};

UploadWriter::UploadWriter(Store& store, std::string repo, std::string id, std::unique_ptr<FileWriter> file,
                           State* state)
    : store_(store), repo_(std::move(repo)), id_(std::move(id)), file_(std::move(file)), state_(state) {}

UploadWriter::~UploadWriter() {
  if (state_) store_.release_upload(*this);
}

Result<void> UploadWriter::write(const char* data, std::size_t size) {
  auto r = file_->write(data, size);
  if (!r) return r;
  state_->hasher.update(data, size);
  state_->offset += size;
  return ok();
}

std::shared_ptr<const ManifestContent> ManifestCache::find(const Digest& d) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(d.str());
  return it == entries_.end() ? nullptr : it->second;
}

void ManifestCache::insert(const Digest& d, std::shared_ptr<const ManifestContent> content) {
  const std::size_t size = content->bytes.size();
  if (size > max_bytes_) return;
  std::lock_guard lock(mutex_);
  if (bytes_ + size > max_bytes_) {
    entries_.clear();
    bytes_ = 0;
  }
  if (entries_.emplace(d.str(), std::move(content)).second) bytes_ += size;
}

std::optional<Digest> TagCache::find(const std::string& path, const FileVersion& version) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(path);
  if (it == entries_.end() || it->second.version != version) return std::nullopt;
  return it->second.digest;
}

void TagCache::insert(const std::string& path, const FileVersion& version, const Digest& d) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_.insert_or_assign(path, Entry{version, d});
}

void TagCache::erase(const std::string& path) {
  std::lock_guard lock(mutex_);
  entries_.erase(path);
}

Store::Store(StorageDriver& driver, StoreOptions options)
    : driver_(driver),
      options_(options),
      manifests_(options.manifest_cache_bytes),
      tags_(options.tag_cache_entries) {
  count_uploads();
}
Store::~Store() = default;

void Store::release_upload(UploadWriter& writer) {
  std::lock_guard lock(uploads_mutex_);
  writer.state_->busy = false;
  writer.state_ = nullptr;
}

Result<Digest> Store::read_link(const std::string& path) {
  auto content = driver_.get_content(path, options_.max_link_bytes);
  if (!content) return content.error();
  auto d = Digest::parse(*content);
  if (!d) return d.error().with_context("link '" + path + "'");
  return d;
}

Result<Hasher> Store::hash_file(const std::string& path, DigestAlgorithm algorithm, std::uint64_t limit) {
  auto reader = driver_.reader(path);
  if (!reader) return reader.error();
  Hasher h(algorithm);
  std::vector<char> buf(options_.hash_buffer_bytes);
  while (limit > 0) {
    auto n = (*reader)->read(buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), limit)));
    if (!n) return n.error();
    if (*n == 0) break;
    h.update(buf.data(), *n);
    limit -= *n;
  }
  return h;
}

// ---- blobs ----

Result<std::uint64_t> Store::blob_size(const std::string& repo, const Digest& d) {
  if (!driver_.stat(paths::layer_link(repo, d)) && !driver_.stat(paths::revision_link(repo, d)))
    return make_error(Errc::not_found, "blob unknown to repository");
  auto info = driver_.stat(paths::blob_data(d));
  if (!info) return info.error();
  return info->size;
}

Result<std::unique_ptr<FileReader>> Store::open_blob(const Digest& d) { return driver_.reader(paths::blob_data(d)); }

Result<void> Store::link_blob(const std::string& repo, const Digest& d) {
  return driver_.put_content(paths::layer_link(repo, d), d.str());
}

Result<void> Store::unlink_blob(const std::string& repo, const Digest& d) {
  std::string link = paths::layer_link(repo, d);
  if (auto st = driver_.stat(link); !st) return st.error();
  return driver_.remove(parent_of(link));
}

Result<void> Store::reference_blob(const std::string& repo, const Digest& d) {
  if (!driver_.stat(paths::layer_link(repo, d)) && !driver_.stat(paths::revision_link(repo, d)))
    return make_error(Errc::not_found, "blob unknown to repository");
  return driver_.touch(paths::blob_data(d));
}

Result<void> Store::reference_manifest(const std::string& repo, const Digest& d) {
  if (!has_manifest(repo, d)) return make_error(Errc::not_found, "manifest unknown");
  return touch_manifest_tree(d, 0);
}

Result<void> Store::touch_manifest_tree(const Digest& d, int depth) {
  if (auto r = driver_.touch(paths::blob_data(d)); !r) return r;
  // An index's children are manifests that no tag may reach but through it: what they
  // reference is touched too, or a collection deleting untagged manifests could take it.
  if (depth >= kMaxIndexDepth) return ok();
  auto stored = get_manifest_bytes(d);
  if (!stored) return stored.error();
  auto parsed = parse_manifest((*stored)->bytes, (*stored)->media_type);
  if (!parsed) return ok();  // stored by another registry and not ours to judge: its own blob is touched
  for (const auto& b : parsed->blobs)
    if (!b.has_urls)
      if (auto r = driver_.touch(paths::blob_data(b.digest)); !r) return r;
  for (const auto& child : parsed->manifests)
    if (auto r = touch_manifest_tree(child.digest, depth + 1); !r) return r;
  return ok();
}

Result<void> Store::mount_blob(const std::string& repo, const std::string& from, const Digest& d) {
  if (auto r = reference_blob(from, d); !r) return r;
  return link_blob(repo, d);
}

Result<void> Store::mount_stored_blob(const std::string& repo, const Digest& d) {
  // Blob data appears only complete and verified (renamed or written atomically); the touch
  // keeps it from a collection running now.
  if (auto r = driver_.touch(paths::blob_data(d)); !r) return r;
  return link_blob(repo, d);
}

// ---- uploads ----

Result<UploadWriter::State*> Store::take_upload(const std::string& repo, const std::string& id) {
  std::lock_guard lock(uploads_mutex_);
  auto& slot = uploads_[upload_key(repo, id)];
  if (!slot) slot = std::make_unique<UploadWriter::State>();
  if (slot->busy) return make_error(Errc::conflict, "upload is in use by another request");
  slot->busy = true;
  return slot.get();
}

void Store::forget_upload(const std::string& repo, const std::string& id, bool removed) {
  std::lock_guard lock(uploads_mutex_);
  uploads_.erase(upload_key(repo, id));
  if (!removed) return;
  auto it = upload_counts_.find(repo);
  if (it == upload_counts_.end()) return;  // (made by another process sharing the directory)
  if (--it->second == 0) upload_counts_.erase(it);
  --upload_total_;
}

// The upload directories in storage, as the store starts: every repository's _uploads.
void Store::count_uploads() {
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    auto names = driver_.list(rel.empty() ? paths::repositories() : paths::repository(rel));
    if (!names) return;  // none yet, or a file (not found)
    for (const auto& n : *names) {
      if (n == "_uploads" && !rel.empty()) {
        auto ids = driver_.list(paths::uploads_dir(rel));
        if (!ids) continue;
        const auto open = static_cast<std::size_t>(std::count_if(ids->begin(), ids->end(), valid_upload_id));
        if (open == 0) continue;
        upload_counts_[rel] += open;
        upload_total_ += open;
      } else if (!n.empty() && n[0] != '_') {
        std::string child = rel.empty() ? n : rel + "/" + n;
        if (valid_repository_name(child)) walk(child);
      }
    }
  };
  std::lock_guard lock(uploads_mutex_);
  walk("");
}

std::size_t Store::open_uploads(const std::string& repo) {
  std::lock_guard lock(uploads_mutex_);
  auto it = upload_counts_.find(repo);
  return it == upload_counts_.end() ? 0 : it->second;
}

std::size_t Store::open_uploads() {
  std::lock_guard lock(uploads_mutex_);
  return upload_total_;
}

Result<std::string> Store::create_upload(const std::string& repo) {
  {
    // Counted before it exists: two requests at once cannot both take the last place.
    std::lock_guard lock(uploads_mutex_);
    auto it = upload_counts_.find(repo);
    const std::size_t in_repo = it == upload_counts_.end() ? 0 : it->second;
    if (in_repo >= options_.max_uploads_per_repository)
      return make_error(Errc::conflict, "repository has " + std::to_string(in_repo) +
                                            " uploads in progress, the most it may have: finish or cancel some first");
    if (upload_total_ >= options_.max_uploads)
      return make_error(Errc::conflict, "the registry has " + std::to_string(upload_total_) +
                                            " uploads in progress, the most it may have: try again later");
    ++upload_counts_[repo];
    ++upload_total_;
  }
  std::string id = new_upload_id();
  auto created = driver_.put_content(paths::upload_started_at(repo, id), rfc3339_now());
  if (created) {
    auto w = driver_.writer(paths::upload_data(repo, id), false);
    if (!w) created = w.error();
  }
  if (!created) {
    // Counted no more once nothing of it is left (or nothing was ever made).
    const bool gone = driver_.remove(paths::upload_dir(repo, id)).ok() || !driver_.stat(paths::upload_dir(repo, id));
    forget_upload(repo, id, gone);
    return created.error();
  }
  return id;
}

Result<std::uint64_t> Store::upload_size(const std::string& repo, const std::string& id) {
  auto info = driver_.stat(paths::upload_data(repo, id));
  if (!info) return info.error();
  return info->size;
}

Result<std::unique_ptr<UploadWriter>> Store::open_upload(const std::string& repo, const std::string& id) {
  const std::string data = paths::upload_data(repo, id);
  // Taken before it is looked at: a purge or cancel that took it first has removed it.
  auto state = take_upload(repo, id);
  if (!state) return state.error();
  if (auto st = driver_.stat(data); !st) {
    forget_upload(repo, id, false);
    return st.error();
  }
  auto file = driver_.writer(data, true);
  if (!file) {
    std::lock_guard lock(uploads_mutex_);
    (*state)->busy = false;
    return file.error();
  }
  std::unique_ptr<UploadWriter> writer(new UploadWriter(*this, repo, id, std::move(*file), *state));
  // The hash state lives in memory; after a restart (or a failed write) it is rebuilt
  // from the data on disk.
  if ((*state)->offset != writer->size()) {
    auto h = hash_file(data, DigestAlgorithm::sha256, writer->size());
    if (!h) return h.error();
    (*state)->hasher = std::move(*h);
    (*state)->offset = writer->size();
  }
  return writer;
}

Result<std::uint64_t> Store::commit_upload(std::unique_ptr<UploadWriter> writer, const Digest& expected) {
  const std::string repo = writer->repository(), id = writer->id();
  const std::string data = paths::upload_data(repo, id);
  const std::uint64_t size = writer->size();
  if (auto r = writer->file_->commit(); !r) return r.error();
  Digest actual;
  if (expected.algorithm == writer->state_->hasher.algorithm()) {
    actual = writer->state_->hasher.digest();
  } else {
    auto h = hash_file(data, expected.algorithm);
    if (!h) return h.error();
    actual = h->digest();
  }
  writer->file_.reset();

  Result<void> placed = ok();
  if (actual == expected) {
    // Two clients pushing the same blob both end here; the rename makes either one win.
    // The blob may be there already: touched, so that a collection running now keeps it.
    auto existing = driver_.stat(paths::blob_data(expected));
    if (!existing || existing->size != size || !driver_.touch(paths::blob_data(expected)))
      placed = driver_.move(data, paths::blob_data(expected));
    if (placed) placed = link_blob(repo, expected);
  }
  // The upload is finished either way: forget it while still holding it.
  auto removed = driver_.remove(paths::upload_dir(repo, id));
  forget_upload(repo, id, removed.ok());
  writer->state_ = nullptr;
  if (actual != expected)
    return make_error(Errc::invalid_argument, "content digest is " + actual.str() + ", not " + expected.str());
  if (!placed) return placed.error();
  if (!removed) return removed.error();
  return size;
}

Result<void> Store::cancel_upload(const std::string& repo, const std::string& id) {
  auto state = take_upload(repo, id);
  if (!state) return state.error();
  if (auto st = driver_.stat(paths::upload_data(repo, id)); !st) {
    forget_upload(repo, id, false);
    return st.error();
  }
  auto removed = driver_.remove(paths::upload_dir(repo, id));
  forget_upload(repo, id, removed.ok());
  return removed;
}

// ---- purging what unfinished writes left ----

std::optional<std::chrono::system_clock::time_point> Store::upload_started(const std::string& repo,
                                                                           const std::string& id) {
  if (auto text = driver_.get_content(paths::upload_started_at(repo, id), 64))
    if (auto t = parse_rfc3339(*text)) return t;
  // No start time that can be read: the last change of the directory or the data counts.
  std::chrono::system_clock::time_point newest{};
  for (const auto& path : {paths::upload_dir(repo, id), paths::upload_data(repo, id)})
    if (auto info = driver_.stat(path)) newest = std::max(newest, info->modified);
  if (newest == std::chrono::system_clock::time_point{}) return std::nullopt;  // the driver cannot tell: kept
  return newest;
}

void Store::purge_uploads_of(const std::string& repo, PurgePass& pass) {
  auto ids = driver_.list(paths::uploads_dir(repo));
  if (!ids) {
    if (ids.error().code != Errc::not_found) pass.report.errors.push_back(ids.error());
    return;
  }
  for (const auto& id : *ids) {
    if (pass.stop.stop_requested()) return;
    if (!valid_upload_id(id)) continue;  // not an upload this layout knows: left alone, as registry:2 does
    auto since = upload_started(repo, id);
    if (!since || *since >= pass.older_than) continue;
    std::uint64_t bytes = 0;
    if (auto info = driver_.stat(paths::upload_data(repo, id))) bytes = info->size;
    if (pass.dry_run) {
      std::lock_guard lock(uploads_mutex_);
      auto it = uploads_.find(upload_key(repo, id));
      if (it == uploads_.end() || !it->second->busy) pass.found(paths::upload_dir(repo, id), true, bytes, *since);
      continue;
    }
    // Held by a request right now: kept. Taken here, no request can open it meanwhile.
    if (!take_upload(repo, id)) continue;
    auto removed = driver_.remove(paths::upload_dir(repo, id));
    forget_upload(repo, id, removed.ok());
    if (removed) pass.found(paths::upload_dir(repo, id), true, bytes, *since);
    else pass.report.errors.push_back(removed.error());
  }
}

void Store::purge_temp_file(const std::string& path, PurgePass& pass) {
  auto info = driver_.stat(path);
  if (!info || info->is_dir) return;
  if (info->modified == std::chrono::system_clock::time_point{} || info->modified >= pass.older_than) return;
  if (!pass.dry_run)
    if (auto removed = driver_.remove(path); !removed) {
      pass.report.errors.push_back(removed.error());
      return;
    }
  pass.found(path, false, info->size, info->modified);
}

// Everything under `dir`: uploads in each repository's _uploads, temp files anywhere.
void Store::purge_tree(const std::string& dir, PurgePass& pass) {
  auto names = driver_.list(dir);
  if (!names) {
    // (Not found: removed meanwhile, or a file.)
    if (names.error().code != Errc::not_found) pass.report.errors.push_back(names.error());
    return;
  }
  const std::string repositories = paths::repositories() + "/";
  for (const auto& n : *names) {
    if (pass.stop.stop_requested()) return;
    if (is_atomic_temp_name(n)) {
      purge_temp_file(dir + "/" + n, pass);
    } else if (n == "_uploads") {
      if (dir.rfind(repositories, 0) == 0 && valid_repository_name(dir.substr(repositories.size())))
        purge_uploads_of(dir.substr(repositories.size()), pass);
    } else if (!is_layout_file_name(n)) {
      purge_tree(dir + "/" + n, pass);
    } else if (auto info = driver_.stat(dir + "/" + n); info && info->is_dir) {
      purge_tree(dir + "/" + n, pass);  // a repository may be called data or link: team/data
    }
  }
}

PurgeReport Store::purge_uploads(std::chrono::system_clock::time_point older_than, bool dry_run,
                                 std::stop_token stop) {
  PurgePass pass{older_than, dry_run, std::move(stop), {}};
  purge_tree(paths::kRoot, pass);
  return std::move(pass.report);
}

// ---- manifests and tags ----

Result<Digest> Store::resolve_tag(const std::string& repo, const std::string& tag) {
  const std::string link = paths::tag_current_link(repo, tag);
  auto info = driver_.stat(link);
  if (!info) return info.error();
  const bool cacheable = info->version != FileVersion{};
  if (cacheable)
    if (auto d = tags_.find(link, info->version)) return *d;
  auto d = read_link(link);
  if (d && cacheable) tags_.insert(link, info->version, *d);
  return d;
}

bool Store::has_manifest(const std::string& repo, const Digest& d) {
  return driver_.stat(paths::revision_link(repo, d)).ok();
}

Result<StoredManifest> Store::get_manifest(const std::string& repo, const Digest& d) {
  if (!has_manifest(repo, d)) return make_error(Errc::not_found, "manifest unknown");
  auto content = get_manifest_bytes(d);
  if (!content) return content.error();
  return StoredManifest{d, (*content)->bytes, (*content)->media_type};
}

Result<std::shared_ptr<const ManifestContent>> Store::get_manifest_bytes(const Digest& d) {
  auto content = manifests_.find(d);
  if (content) {
    // The bytes never change, but a collection (in any process) may delete them.
    if (auto info = driver_.stat(paths::blob_data(d)); !info) return info.error();
    return content;
  }
  auto bytes = driver_.get_content(paths::blob_data(d), options_.max_manifest_bytes);
  if (!bytes) return bytes.error();
  std::string type = stored_media_type(*bytes);
  content = std::make_shared<const ManifestContent>(ManifestContent{std::move(*bytes), std::move(type)});
  manifests_.insert(d, content);
  return content;
}

std::mutex& Store::manifest_lock(const std::string& repo, const Digest& d) {
  return manifest_locks_[std::hash<std::string>{}(repo + '\n' + d.str()) % manifest_locks_.size()];
}

Result<void> Store::index_referrer(const std::string& repo, const Digest& d, std::uint64_t size,
                                   const Manifest& parsed) {
  const Referrer referrer{parsed.media_type, d, size, parsed.artifact_type, parsed.annotations_json};
  return driver_.put_content(paths::referrer_descriptor(repo, parsed.subject->digest, d),
                             referrer_descriptor(referrer));
}

Result<void> Store::put_manifest(const std::string& repo, const Digest& d, std::string_view bytes,
                                 const Manifest& parsed) {
  // Touched when it is there, so that a collection running now keeps it.
  auto existing = driver_.stat(paths::blob_data(d));
  if (!existing || existing->size != bytes.size() || !driver_.touch(paths::blob_data(d)))
    if (auto r = driver_.put_content(paths::blob_data(d), bytes); !r) return r;
  std::lock_guard lock(manifest_lock(repo, d));
  // Written whether or not the index is complete: a scan running now may have listed the
  // revisions before this one.
  if (parsed.subject)
    if (auto r = index_referrer(repo, d, bytes.size(), parsed); !r) return r;
  return driver_.put_content(paths::revision_link(repo, d), d.str());
}

Result<void> Store::tag(const std::string& repo, const std::string& tag, const Digest& d) {
  tags_.erase(paths::tag_current_link(repo, tag));
  if (auto r = driver_.put_content(paths::tag_index_link(repo, tag, d), d.str()); !r) return r;
  return driver_.put_content(paths::tag_current_link(repo, tag), d.str());
}

Result<void> Store::untag(const std::string& repo, const std::string& tag) {
  tags_.erase(paths::tag_current_link(repo, tag));
  if (auto st = driver_.stat(paths::tag_current_link(repo, tag)); !st) return st.error();
  return driver_.remove(paths::tag_dir(repo, tag));
}

Result<void> Store::delete_manifest(const std::string& repo, const Digest& d) {
  std::lock_guard lock(manifest_lock(repo, d));
  std::string link = paths::revision_link(repo, d);
  if (auto st = driver_.stat(link); !st) return st.error();
  // Its subject is known only from its bytes; without them (data gone) the entry stays,
  // and listings skip it once the revision is gone.
  std::optional<Digest> subject;
  if (auto stored = get_manifest(repo, d))
    if (auto parsed = parse_manifest(stored->bytes, ""); parsed && parsed->subject) subject = parsed->subject->digest;
  if (auto r = driver_.remove(parent_of(link)); !r) return r;
  if (subject)
    if (auto r = driver_.remove(parent_of(paths::referrer_descriptor(repo, *subject, d))); !r) return r;
  auto tags = list_tags(repo);
  if (!tags) return ok();
  for (const auto& t : *tags) {
    auto target = resolve_tag(repo, t);
    if (target && *target == d) {
      tags_.erase(paths::tag_current_link(repo, t));
      if (auto r = driver_.remove(paths::tag_dir(repo, t)); !r) return r;
    }
  }
  return ok();
}

Result<std::vector<Digest>> Store::list_manifests(const std::string& repo) {
  std::vector<Digest> out;
  for (auto alg : {DigestAlgorithm::sha256, DigestAlgorithm::sha512}) {
    auto names = driver_.list(paths::revisions_dir(repo, alg));
    if (!names) {
      if (names.error().code == Errc::not_found) continue;
      return names.error();
    }
    for (const auto& n : *names) {
      auto d = Digest::parse(std::string(alg == DigestAlgorithm::sha256 ? "sha256:" : "sha512:") + n);
      if (d && driver_.stat(paths::revision_link(repo, *d))) out.push_back(*d);
    }
  }
  return out;
}

Result<void> Store::complete_referrers_index(const std::string& repo) {
  std::lock_guard lock(index_scan_mutex_);
  if (driver_.stat(paths::referrers_complete(repo))) return ok();  // (a listing just before this one scanned)
  // No manifests, nothing to index: a listing of any name must not create its directory.
  if (!repository_has_manifests(repo)) return ok();
  auto digests = list_manifests(repo);
  if (!digests) return digests.error();
  for (const auto& d : *digests) {
    // Read past the cache: one pass over every manifest would only empty it.
    auto bytes = driver_.get_content(paths::blob_data(d), options_.max_manifest_bytes);
    if (!bytes) continue;  // (no data to list it by, as before the index)
    auto parsed = parse_manifest(*bytes, "");
    if (!parsed || !parsed->subject) continue;
    // Only adds: an entry there was written by its PUT, or by a scan before this one.
    if (driver_.stat(paths::referrer_descriptor(repo, parsed->subject->digest, d))) continue;
    if (auto r = index_referrer(repo, d, bytes->size(), *parsed); !r) return r;
  }
  // A PUT that this scan missed (linked after the revisions were listed) wrote its entry itself.
  return driver_.put_content(paths::referrers_complete(repo), "");
}

// The referrers the index names for `subject`, sorted by digest (whether their revisions
// exist is not asked here).
Result<std::vector<Digest>> Store::indexed_referrers(const std::string& repo, const Digest& subject) {
  std::vector<Digest> out;
  for (auto alg : {DigestAlgorithm::sha256, DigestAlgorithm::sha512}) {
    auto names = driver_.list(paths::referrers_dir(repo, subject, alg));
    if (!names) {
      if (names.error().code == Errc::not_found) continue;
      return names.error();
    }
    for (const auto& n : *names)
      if (auto d = Digest::parse(std::string(alg == DigestAlgorithm::sha256 ? "sha256:" : "sha512:") + n))
        out.push_back(*d);
  }
  std::sort(out.begin(), out.end(), [](const Digest& a, const Digest& b) { return a.str() < b.str(); });
  return out;
}

Result<ReferrerPage> Store::list_referrers(const std::string& repo, const Digest& subject,
                                           const ReferrerQuery& query) {
  if (!driver_.stat(paths::referrers_complete(repo)))
    if (auto r = complete_referrers_index(repo); !r) return r.error();
  auto digests = indexed_referrers(repo, subject);
  if (!digests) return digests.error();
  ReferrerPage page;
  for (const auto& d : *digests) {
    if (!query.after.empty() && d.str() <= query.after) continue;
    // Not yet linked (a PUT under way) or no longer (deleted, also by another registry).
    if (!has_manifest(repo, d)) continue;
    const std::string path = paths::referrer_descriptor(repo, subject, d);
    auto text = driver_.get_content(path, options_.max_manifest_bytes);
    if (!text) {
      if (text.error().code == Errc::not_found) continue;  // (removed by a DELETE meanwhile)
      return text.error();
    }
    auto referrer = parse_referrer_descriptor(*text);
    if (!referrer) return referrer.error().with_context("'" + path + "'");
    if (referrer->digest != d) return make_error(Errc::invalid_argument, "'" + path + "' describes " + referrer->digest.str());
    if (!query.artifact_type.empty() && referrer->artifact_type != query.artifact_type) continue;
    if (page.referrers.size() == query.limit) {
      page.more = true;
      break;
    }
    page.referrers.push_back(std::move(*referrer));
  }
  return page;
}

bool Store::repository_has_manifests(const std::string& repo) {
  auto st = driver_.stat(paths::repository(repo) + "/_manifests");
  return st && st->is_dir;
}

Result<std::vector<std::string>> Store::list_tags(const std::string& repo) {
  // A repository holding only blobs is unknown here, as in registry:2; one with
  // manifests but no tags has an empty list.
  std::vector<std::string> tags;
  auto names = driver_.list(paths::tags_dir(repo));
  if (!names) {
    if (names.error().code == Errc::not_found && repository_has_manifests(repo)) return tags;
    return names.error();
  }
  for (auto& n : *names)
    if (valid_tag(n) && driver_.stat(paths::tag_current_link(repo, n))) tags.push_back(std::move(n));
  std::sort(tags.begin(), tags.end());
  return tags;
}

Result<std::vector<std::string>> Store::list_repositories() {
  std::vector<std::string> repos;
  std::function<Result<void>(const std::string&)> walk = [&](const std::string& rel) -> Result<void> {
    auto names = driver_.list(rel.empty() ? paths::repositories() : paths::repository(rel));
    if (!names) return names.error().code == Errc::not_found ? ok() : Result<void>(names.error());
    bool is_repo = false;
    for (const auto& n : *names) {
      if (n == "_manifests") is_repo = true;
      if (n.empty() || n[0] == '_') continue;
      std::string child = rel.empty() ? n : rel + "/" + n;
      if (!valid_repository_name(child)) continue;
      if (auto st = driver_.stat(paths::repository(child)); !st || !st->is_dir) continue;
      if (auto r = walk(child); !r) return r;
    }
    if (is_repo && !rel.empty()) repos.push_back(rel);
    return ok();
  };
  if (auto r = walk(""); !r) return r.error();
  std::sort(repos.begin(), repos.end());
  return repos;
}

}  // namespace rs::registry
