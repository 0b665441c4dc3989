#include "registry/store.hpp"

#include "registry/filesystem_driver.hpp"
#include "registry/manifest.hpp"
#include "registry/memory_driver.hpp"
#include "registry/paths.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stop_token>
#include <thread>

using namespace rs::registry;
using rs::Result;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A manifest naming `subject`, made another by `salt`, with what parse_manifest makes of it.
struct Referring {
  std::string bytes;
  rs::Digest digest;
  Manifest parsed;
};
Referring referring(const rs::Digest& subject, const std::string& salt) {
  Referring r;
  r.bytes = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.)" +
            salt + R"(","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" +
            rs::digest_of("{}").str() + R"(","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
            subject.str() + R"(","size":2}})";
  r.digest = rs::digest_of(r.bytes);
  r.parsed = *parse_manifest(r.bytes, "");
  return r;
}

std::vector<std::string> digests_of(const ReferrerPage& page) {
  std::vector<std::string> out;
  for (const auto& r : page.referrers) out.push_back(r.digest.str());
  return out;
}

// A MemoryDriver that runs `before_link` once, just before the first revision link is written.
class LinkHookDriver final : public StorageDriver {
 public:
  std::function<void()> before_link;

  Result<std::string> get_content(const std::string& path, std::uint64_t max_size) override {
    return inner_.get_content(path, max_size);
  }
  Result<void> put_content(const std::string& path, std::string_view content) override {
    if (before_link && path.find("/_manifests/revisions/") != std::string::npos) std::exchange(before_link, nullptr)();
    return inner_.put_content(path, content);
  }
  Result<std::unique_ptr<FileReader>> reader(const std::string& path) override { return inner_.reader(path); }
  Result<std::unique_ptr<FileWriter>> writer(const std::string& path, bool append) override {
    return inner_.writer(path, append);
  }
  Result<FileInfo> stat(const std::string& path) override { return inner_.stat(path); }
  Result<std::vector<std::string>> list(const std::string& path) override { return inner_.list(path); }
  Result<void> move(const std::string& from, const std::string& to, bool durable) override {
    return inner_.move(from, to, durable);
  }
  Result<void> remove(const std::string& path) override { return inner_.remove(path); }
  Result<void> touch(const std::string& path) override { return inner_.touch(path); }
  Result<void> create_exclusive(const std::string& path, std::string_view content) override {
    return inner_.create_exclusive(path, content);
  }
  Result<void> remove_empty_dirs(const std::string& path) override { return inner_.remove_empty_dirs(path); }

 private:
  MemoryDriver inner_;
};

}  // namespace

TEST_CASE("the subject index: a put enters a referrer, listings page by digest, a delete removes it") {
  MemoryDriver driver;
  Store store(driver);
  const auto subject = rs::digest_of("subject");
  std::vector<Referring> refs;
  std::vector<std::string> all;
  for (const char* salt : {"a", "b", "c", "d"}) {
    refs.push_back(referring(subject, salt));
    REQUIRE(store.put_manifest("app", refs.back().digest, refs.back().bytes, refs.back().parsed).ok());
    CHECK(driver.stat(paths::referrer_descriptor("app", subject, refs.back().digest)).ok());
    all.push_back(refs.back().digest.str());
  }
  std::sort(all.begin(), all.end());
  auto whole = store.list_referrers("app", subject, {});
  REQUIRE(whole.ok());
  CHECK(digests_of(*whole) == all);
  CHECK_FALSE(whole->more);
  CHECK(whole->referrers[0].size > 0);

  auto first = store.list_referrers("app", subject, {"", "", 2});
  REQUIRE(first.ok());
  CHECK(digests_of(*first) == std::vector<std::string>{all[0], all[1]});
  CHECK(first->more);
  auto rest = store.list_referrers("app", subject, {"", all[1], 2});
  REQUIRE(rest.ok());
  CHECK(digests_of(*rest) == std::vector<std::string>{all[2], all[3]});
  CHECK_FALSE(rest->more);
  auto typed = store.list_referrers("app", subject, {"application/vnd.example.c", "", 10});
  REQUIRE(typed.ok());
  CHECK(digests_of(*typed) == std::vector<std::string>{refs[2].digest.str()});

  REQUIRE(store.delete_manifest("app", refs[2].digest).ok());
  CHECK_FALSE(driver.stat(paths::referrer_descriptor("app", subject, refs[2].digest)).ok());
  CHECK(store.list_referrers("app", subject, {"application/vnd.example.c", "", 10})->referrers.empty());
  CHECK(store.list_referrers("app", subject, {})->referrers.size() == 3);
}

TEST_CASE("a scan into the index while a put is under way loses nothing: the put entered itself first") {
  LinkHookDriver driver;
  Store store(driver);
  const auto subject = rs::digest_of("subject");
  auto a = referring(subject, "a"), b = referring(subject, "b");
  REQUIRE(store.put_manifest("app", a.digest, a.bytes, a.parsed).ok());
  // No listing yet: the index is not complete. The first one runs between b's entry and its
  // revision link, so its scan cannot see b's revision, and marks the index complete.
  std::size_t during = 99;
  driver.before_link = [&] {
    auto page = store.list_referrers("app", subject, {});
    REQUIRE(page.ok());
    during = page->referrers.size();
  };
  REQUIRE(store.put_manifest("app", b.digest, b.bytes, b.parsed).ok());
  CHECK(during == 1);  // (b not linked yet)
  CHECK(driver.stat(paths::referrers_complete("app")).ok());
  auto after = store.list_referrers("app", subject, {});
  REQUIRE(after.ok());
  CHECK(after->referrers.size() == 2);
}

TEST_CASE("the layout on disk is registry:2's, link files without newline") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store store(driver);
  auto id = store.create_upload("lib/app");
  REQUIRE(id.ok());
  auto w = store.open_upload("lib/app", *id);
  REQUIRE(w.ok());
  REQUIRE((*w)->write("data", 4).ok());
  auto d = rs::digest_of("data");
  REQUIRE(store.commit_upload(std::move(*w), d).ok());
  REQUIRE(store.put_manifest("lib/app", rs::digest_of("{}"), "{}", {}).ok());
  REQUIRE(store.tag("lib/app", "v1", rs::digest_of("{}")).ok());

  auto v2 = dir.path / "docker/registry/v2";
  CHECK(slurp(v2 / "blobs/sha256" / d.hex.substr(0, 2) / d.hex / "data") == "data");
  CHECK(slurp(v2 / "repositories/lib/app/_layers/sha256" / d.hex / "link") == d.str());
  auto m = rs::digest_of("{}");
  CHECK(slurp(v2 / "repositories/lib/app/_manifests/revisions/sha256" / m.hex / "link") == m.str());
  CHECK(slurp(v2 / "repositories/lib/app/_manifests/tags/v1/current/link") == m.str());
  CHECK(slurp(v2 / "repositories/lib/app/_manifests/tags/v1/index/sha256" / m.hex / "link") == m.str());
  CHECK(std::filesystem::is_empty(v2 / "repositories/lib/app/_uploads"));
}

TEST_CASE("an upload continues after a restart: the hash state is rebuilt from storage") {
  MemoryDriver driver;  // (nothing here looks at files)
  std::string id;
  {
    Store before(driver);
    id = *before.create_upload("app");
    auto w = before.open_upload("app", id);
    REQUIRE(w.ok());
    REQUIRE((*w)->write("first half, ", 12).ok());
  }
  Store after(driver);
  CHECK(*after.upload_size("app", id) == 12);
  auto w = after.open_upload("app", id);
  REQUIRE(w.ok());
  REQUIRE((*w)->write("second half", 11).ok());
  auto size = after.commit_upload(std::move(*w), rs::digest_of("first half, second half"));
  REQUIRE(size.ok());
  CHECK(*size == 23);
}

TEST_CASE("one upload is written by one request at a time") {
  MemoryDriver driver;  // (nothing here looks at files)
  Store store(driver);
  auto id = *store.create_upload("app");
  auto first = store.open_upload("app", id);
  REQUIRE(first.ok());
  auto second = store.open_upload("app", id);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == rs::Errc::conflict);
  CHECK(store.cancel_upload("app", id).error().code == rs::Errc::conflict);
  first->reset();
  CHECK(store.open_upload("app", id).ok());
}

TEST_CASE("two clients pushing the same blob at once both succeed") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store store(driver);
  const std::string content(3 << 20, 'x');
  const auto digest = rs::digest_of(content);
  auto push = [&](const std::string& repo, bool* ok) {
    auto id = store.create_upload(repo);
    auto w = store.open_upload(repo, *id);
    for (std::size_t i = 0; i < content.size(); i += 65536)
      if (!(*w)->write(content.data() + i, 65536).ok()) return;
    *ok = store.commit_upload(std::move(*w), digest).ok();
  };
  bool a = false, b = false;
  std::thread t1(push, "one", &a), t2(push, "two", &b);
  t1.join();
  t2.join();
  CHECK(a);
  CHECK(b);
  CHECK(*store.blob_size("one", digest) == content.size());
  CHECK(*store.blob_size("two", digest) == content.size());
}

TEST_CASE("repositories are found at any depth, without tags a repository has no tags list") {
  MemoryDriver driver;  // (nothing here looks at files)
  Store store(driver);
  auto m = rs::digest_of("{}");
  for (const char* repo : {"a", "a/b", "x/y/z"}) {
    REQUIRE(store.put_manifest(repo, m, "{}", {}).ok());
  }
  REQUIRE(store.create_upload("only/uploads").ok());
  auto repos = store.list_repositories();
  REQUIRE(repos.ok());
  CHECK(*repos == std::vector<std::string>{"a", "a/b", "x/y/z"});
  CHECK(store.list_tags("only/uploads").error().code == rs::Errc::not_found);
  CHECK(store.list_tags("a")->empty());
  CHECK(store.list_tags("missing").error().code == rs::Errc::not_found);
}

TEST_CASE("manifest bytes come from the cache, but only while the repository has the revision and the data") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store store(driver);
  const std::string bytes = R"({"schemaVersion":2})";
  auto d = rs::digest_of(bytes);
  REQUIRE(store.put_manifest("lib/app", d, bytes, {}).ok());
  REQUIRE(store.put_manifest("lib/other", d, bytes, {}).ok());
  auto first = store.get_manifest("lib/app", d);
  REQUIRE(first.ok());
  CHECK(first->bytes == bytes);

  // The data file is gone (as after a garbage collection by another process): the cached
  // bytes are not served (no stale cache after GC); written again, they are.
  auto data = dir.path / "docker/registry/v2/blobs/sha256" / d.hex.substr(0, 2) / d.hex / "data";
  REQUIRE(std::filesystem::remove(data));
  auto gone = store.get_manifest("lib/app", d);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == rs::Errc::not_found);
  REQUIRE(store.put_manifest("lib/app", d, bytes, {}).ok());
  auto again = store.get_manifest("lib/app", d);
  REQUIRE(again.ok());
  CHECK(again->bytes == bytes);

  // Deleting the revision in one repository hides it there at once, not in the other.
  REQUIRE(store.delete_manifest("lib/app", d).ok());
  auto deleted = store.get_manifest("lib/app", d);
  REQUIRE_FALSE(deleted.ok());
  CHECK(deleted.error().code == rs::Errc::not_found);
  CHECK(store.get_manifest("lib/other", d).ok());
}

TEST_CASE("manifests are read back within the configured limit") {
  MemoryDriver driver;
  StoreOptions options;
  options.max_manifest_bytes = 10;
  Store store(driver, options);
  const std::string bytes = R"({"schemaVersion":2})";
  auto d = rs::digest_of(bytes);
  REQUIRE(store.put_manifest("app", d, bytes, {}).ok());
  auto got = store.get_manifest("app", d);
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().code == rs::Errc::invalid_argument);
  CHECK(Store(driver).get_manifest("app", d)->bytes == bytes);  // the default limit is larger
}

TEST_CASE("the content cache stays within its bound") {
  ManifestCache cache(10);
  auto content = [](std::string bytes) {
    return std::make_shared<const ManifestContent>(ManifestContent{std::move(bytes), "x"});
  };
  auto a = rs::digest_of("a"), b = rs::digest_of("b"), c = rs::digest_of("c");
  cache.insert(a, content("123456"));
  REQUIRE(cache.find(a));
  CHECK(cache.find(a)->bytes == "123456");
  cache.insert(b, content("12345678901"));  // larger than the bound
  CHECK_FALSE(cache.find(b));
  CHECK(cache.find(a));
  cache.insert(c, content("12345"));  // 6 + 5 > 10: starts over
  CHECK_FALSE(cache.find(a));
  REQUIRE(cache.find(c));
  CHECK(cache.find(c)->bytes == "12345");
}

TEST_CASE("a tag resolves from the cache only while its link file is unchanged") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store writer_side(driver), reader_side(driver);  // two registries sharing one directory
  auto one = rs::digest_of("one"), two = rs::digest_of("two");
  REQUIRE(writer_side.tag("lib/app", "v1", one).ok());
  auto first = reader_side.resolve_tag("lib/app", "v1");
  REQUIRE(first.ok());
  CHECK(*first == one);
  CHECK(*reader_side.resolve_tag("lib/app", "v1") == one);  // (from the cache)

  // Moved by the other registry, again and again: every change is seen at once.
  for (int i = 0; i < 20; ++i) {
    const auto& target = i % 2 ? one : two;
    REQUIRE(writer_side.tag("lib/app", "v1", target).ok());
    auto now = reader_side.resolve_tag("lib/app", "v1");
    REQUIRE(now.ok());
    CHECK(*now == target);
  }
  // Rewritten in place by hand (same inode), a clock tick later: the times differ, so it is
  // read again. (Same-tick in-place rewrites by hand are the one change a stat cannot see.)
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto link = dir.path / "docker/registry/v2/repositories/lib/app/_manifests/tags/v1/current/link";
  { std::ofstream(link, std::ios::trunc) << two.str(); }
  CHECK(*reader_side.resolve_tag("lib/app", "v1") == two);
  // Gone: not found, whatever was cached.
  REQUIRE(writer_side.untag("lib/app", "v1").ok());
  auto gone = reader_side.resolve_tag("lib/app", "v1");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == rs::Errc::not_found);
}

namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

// A time as registry:2 writes it to startedat.
std::string rfc3339(system_clock::time_point t) {
  std::time_t s = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Sets a file's or directory's last change on disk.
void set_mtime(const std::filesystem::path& p, system_clock::time_point t) {
  std::filesystem::last_write_time(
      p, std::filesystem::file_time_type::clock::now() + std::chrono::duration_cast<std::filesystem::file_time_type::duration>(
                                                              t - system_clock::now()));
}

}  // namespace

TEST_CASE("a purge removes uploads started before the age and keeps newer ones and the ones held open") {
  MemoryDriver driver;
  Store store(driver);
  const auto now = system_clock::now();
  auto old_id = *store.create_upload("app");
  auto held_id = *store.create_upload("app");
  auto new_id = *store.create_upload("lib/other");
  for (const auto& id : {old_id, held_id})
    REQUIRE(driver.put_content(paths::upload_started_at("app", id), rfc3339(now - 192h)).ok());
  {
    auto w = store.open_upload("app", old_id);  // (leaves its hash state in the store)
    REQUIRE(w.ok());
    REQUIRE((*w)->write("abc", 3).ok());
  }
  auto held = store.open_upload("app", held_id);
  REQUIRE(held.ok());

  auto report = store.purge_uploads(now - 168h, false);
  CHECK(report.errors.empty());
  CHECK(report.uploads == 1);
  CHECK(report.temp_files == 0);
  CHECK(report.bytes == 3);
  REQUIRE(report.items.size() == 1);
  CHECK(report.items[0].path == paths::upload_dir("app", old_id));
  CHECK(report.items[0].upload);
  CHECK_FALSE(driver.stat(paths::upload_dir("app", old_id)).ok());
  CHECK(store.open_upload("app", old_id).error().code == rs::Errc::not_found);
  CHECK(driver.stat(paths::upload_data("app", held_id)).ok());
  CHECK(driver.stat(paths::upload_data("lib/other", new_id)).ok());
  CHECK(store.open_uploads("app") == 1);
  CHECK(store.open_uploads() == 2);

  // Once the request lets it go, the next pass takes it.
  held->reset();
  CHECK(store.purge_uploads(now - 168h, false).uploads == 1);
  CHECK(store.open_uploads("app") == 0);
  CHECK(store.open_uploads() == 1);
  CHECK(store.purge_uploads(now - 168h, false).items.empty());
}

TEST_CASE("a dry run of a purge reports what it would remove and removes nothing") {
  MemoryDriver driver;
  Store store(driver);
  auto id = *store.create_upload("app");
  REQUIRE(driver.put_content(paths::upload_started_at("app", id), "2020-01-01T00:00:00+02:00").ok());
  auto report = store.purge_uploads(system_clock::now() - 168h, true);
  CHECK(report.uploads == 1);
  REQUIRE(report.items.size() == 1);
  CHECK(report.items[0].since == system_clock::from_time_t(1577829600));  // 2019-12-31T22:00:00Z
  CHECK(driver.stat(paths::upload_data("app", id)).ok());
  CHECK(store.open_uploads() == 1);
  CHECK(store.open_upload("app", id).ok());
}

TEST_CASE("without a start time that can be read, an upload's last change on disk decides") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store store(driver);
  const auto now = system_clock::now();
  auto unreadable = *store.create_upload("app");
  auto missing = *store.create_upload("app");
  auto v2 = dir.path / "docker/registry/v2";
  REQUIRE(driver.put_content(paths::upload_started_at("app", unreadable), "last tuesday").ok());
  std::filesystem::remove(v2 / "repositories/app/_uploads" / missing / "startedat");
  CHECK(store.purge_uploads(now - 168h, false).items.empty());  // both changed just now

  for (const auto& id : {unreadable, missing}) {
    set_mtime(v2 / "repositories/app/_uploads" / id / "data", now - 200h);
    set_mtime(v2 / "repositories/app/_uploads" / id, now - 200h);
  }
  auto report = store.purge_uploads(now - 168h, false);
  CHECK(report.errors.empty());
  CHECK(report.uploads == 2);
  CHECK(std::filesystem::is_empty(v2 / "repositories/app/_uploads"));
  CHECK(store.open_uploads() == 0);
}

TEST_CASE("a purge removes the temp files interrupted atomic writes left, once they are old") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store store(driver);
  const auto now = system_clock::now();
  const auto manifest = rs::digest_of("{}");
  REQUIRE(store.put_manifest("lib/app", manifest, "{}", {}).ok());
  REQUIRE(store.tag("lib/app", "v1", manifest).ok());
  auto v2 = dir.path / "docker/registry/v2";
  auto tag_dir = v2 / "repositories/lib/app/_manifests/tags/v1/current";
  auto blob_dir = v2 / "blobs/sha256" / manifest.hex.substr(0, 2) / manifest.hex;
  // As write_file_atomic names them: ".NAME.tmp-PID-COUNTER-RANDOM".
  for (const auto& p : {tag_dir / ".link.tmp-123-0-abcd1234", blob_dir / ".data.tmp-123-1-abcd1234"}) {
    std::ofstream(p) << "partial";
    set_mtime(p, now - 200h);
  }
  std::ofstream(tag_dir / ".link.tmp-123-2-ffff0000") << "in progress";  // just now

  auto dry = store.purge_uploads(now - 168h, true);
  CHECK(dry.temp_files == 2);
  CHECK(std::filesystem::exists(tag_dir / ".link.tmp-123-0-abcd1234"));

  auto report = store.purge_uploads(now - 168h, false);
  CHECK(report.errors.empty());
  CHECK(report.uploads == 0);
  CHECK(report.temp_files == 2);
  CHECK(report.bytes == 14);
  CHECK_FALSE(std::filesystem::exists(tag_dir / ".link.tmp-123-0-abcd1234"));
  CHECK_FALSE(std::filesystem::exists(blob_dir / ".data.tmp-123-1-abcd1234"));
  CHECK(std::filesystem::exists(tag_dir / ".link.tmp-123-2-ffff0000"));
  // The layout itself is untouched.
  CHECK(*store.resolve_tag("lib/app", "v1") == manifest);
  CHECK(store.get_manifest("lib/app", manifest).ok());
}

TEST_CASE("a purge stops between entries once asked to") {
  MemoryDriver driver;
  Store store(driver);
  for (int i = 0; i < 3; ++i) {
    auto id = *store.create_upload("app");
    REQUIRE(driver.put_content(paths::upload_started_at("app", id), "2020-01-01T00:00:00Z").ok());
  }
  std::stop_source stop;
  stop.request_stop();
  CHECK(store.purge_uploads(system_clock::now(), false, stop.get_token()).items.empty());
  CHECK(store.open_uploads() == 3);
}

TEST_CASE("uploads open at once are capped per repository and in all; finished ones make room") {
  MemoryDriver driver;
  StoreOptions options;
  options.max_uploads_per_repository = 2;
  options.max_uploads = 3;
  Store store(driver, options);
  auto a1 = *store.create_upload("a");
  auto a2 = *store.create_upload("a");
  auto full = store.create_upload("a");
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().code == rs::Errc::conflict);
  CHECK_THAT(full.error().message, Catch::Contains("2 uploads in progress"));
  auto b1 = *store.create_upload("b");
  auto all = store.create_upload("c");
  REQUIRE_FALSE(all.ok());
  CHECK(all.error().code == rs::Errc::conflict);
  CHECK(store.open_uploads() == 3);

  // Cancelled, committed (also with a wrong digest) and purged uploads count no more.
  REQUIRE(store.cancel_upload("a", a1).ok());
  CHECK(store.open_uploads("a") == 1);
  CHECK(store.cancel_upload("a", a1).error().code == rs::Errc::not_found);
  CHECK(store.open_uploads("a") == 1);
  auto a3 = store.create_upload("a");
  REQUIRE(a3.ok());
  auto empty = store.open_upload("a", a2);
  REQUIRE(empty.ok());
  REQUIRE(store.commit_upload(std::move(*empty), rs::digest_of("")).ok());
  auto w = store.open_upload("a", *a3);
  REQUIRE((*w)->write("x", 1).ok());
  CHECK_FALSE(store.commit_upload(std::move(*w), rs::digest_of("")).ok());
  CHECK(store.open_uploads("a") == 0);
  REQUIRE(driver.put_content(paths::upload_started_at("b", b1), "2020-01-01T00:00:00Z").ok());
  CHECK(store.purge_uploads(system_clock::now(), false).uploads == 1);
  CHECK(store.open_uploads() == 0);
  for (int i = 0; i < 2; ++i) CHECK(store.create_upload("a").ok());
  CHECK(store.create_upload("c").ok());
}

TEST_CASE("open uploads are counted from storage when a store starts") {
  MemoryDriver driver;
  {
    Store before(driver);
    REQUIRE(before.create_upload("a").ok());
    REQUIRE(before.create_upload("a").ok());
    REQUIRE(before.create_upload("x/y/z").ok());
  }
  REQUIRE(driver.put_content(paths::uploads_dir("a") + "/not-an-upload/data", "").ok());  // not counted
  StoreOptions options;
  options.max_uploads_per_repository = 2;
  Store after(driver, options);
  CHECK(after.open_uploads("a") == 2);
  CHECK(after.open_uploads("x/y/z") == 1);
  CHECK(after.open_uploads() == 3);
  CHECK(after.create_upload("a").error().code == rs::Errc::conflict);
  CHECK(after.create_upload("x/y/z").ok());
}

TEST_CASE("a manifest over 4 MiB is read back from storage within a raised limit") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  StoreOptions options;
  options.max_manifest_bytes = 6 << 20;
  const std::string bytes = R"({"schemaVersion":2,"pad":")" + std::string(5 << 20, 'x') + "\"}";
  const auto d = rs::digest_of(bytes);
  REQUIRE(Store(driver, options).put_manifest("app", d, bytes, {}).ok());
  // A store of its own: the bytes come from storage, not from a cache.
  auto got = Store(driver, options).get_manifest("app", d);
  REQUIRE(got.ok());
  CHECK(got->bytes == bytes);
  CHECK(Store(driver).get_manifest("app", d).error().code == rs::Errc::invalid_argument);  // the default limit
}

TEST_CASE("a purge reaches repositories whose names are the layout's file names (team/data, link)") {
  MemoryDriver driver;
  Store store(driver);
  const auto now = system_clock::now();
  for (const std::string repo : {"team/data", "link", "a/startedat/b"}) {
    INFO(repo);
    auto id = *store.create_upload(repo);
    REQUIRE(driver.put_content(paths::upload_started_at(repo, id), rfc3339(now - 192h)).ok());
    auto report = store.purge_uploads(now - 168h, false);
    CHECK(report.errors.empty());
    CHECK(report.uploads == 1);
    CHECK_FALSE(driver.stat(paths::upload_dir(repo, id)).ok());
  }
  CHECK(store.open_uploads() == 0);
}
