#include "registry/store.hpp"

#include "registry/filesystem_driver.hpp"
#include "registry/memory_driver.hpp"
#include "registry/paths.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace rs::registry;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

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
  REQUIRE(store.put_manifest("lib/app", rs::digest_of("{}"), "{}").ok());
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
    REQUIRE(store.put_manifest(repo, m, "{}").ok());
  }
  REQUIRE(store.create_upload("only/uploads").ok());
  auto repos = store.list_repositories();
  REQUIRE(repos.ok());
  CHECK(*repos == std::vector<std::string>{"a", "a/b", "x/y/z"});
  CHECK(store.list_tags("only/uploads").error().code == rs::Errc::not_found);
  CHECK(store.list_tags("a")->empty());
  CHECK(store.list_tags("missing").error().code == rs::Errc::not_found);
}

TEST_CASE("manifest bytes come from the cache, but only while the repository has the revision") {
  rs::testing::TempDir dir;
  FilesystemDriver driver(dir.str());
  Store store(driver);
  const std::string bytes = R"({"schemaVersion":2})";
  auto d = rs::digest_of(bytes);
  REQUIRE(store.put_manifest("lib/app", d, bytes).ok());
  REQUIRE(store.put_manifest("lib/other", d, bytes).ok());
  auto first = store.get_manifest("lib/app", d);
  REQUIRE(first.ok());
  CHECK(first->bytes == bytes);

  // The data file is gone (as after a garbage collection by another process): the
  // content of a digest cannot change, so the cached bytes are still served.
  auto data = dir.path / "docker/registry/v2/blobs/sha256" / d.hex.substr(0, 2) / d.hex / "data";
  REQUIRE(std::filesystem::remove(data));
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
  REQUIRE(store.put_manifest("app", d, bytes).ok());
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
