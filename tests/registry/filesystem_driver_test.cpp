#include "registry/filesystem_driver.hpp"

#include "core/atomic_file.hpp"

#include "storage_driver_suite.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <random>

namespace fs = std::filesystem;
using rs::registry::FilesystemDriver;
using rs::registry::FilesystemDriverOptions;
using rs::registry::StorageDriver;

namespace {

// A driver on a fresh directory under `base`, removed with it.
struct DriverOnDir {
  rs::testing::TempDir dir;
  FilesystemDriver driver;
  DriverOnDir(const fs::path& base, FilesystemDriverOptions options) : dir(base), driver(dir.str(), options) {}
};

rs::testing::DriverFactory driver_under(const fs::path& base, FilesystemDriverOptions options) {
  return [base, options] {
    auto owner = std::make_shared<DriverOnDir>(base, options);
    return std::shared_ptr<StorageDriver>(owner, &owner->driver);
  };
}

// The first writable directory of `candidates` on a file system of type `magic` (statfs).
std::optional<fs::path> directory_on(long magic, std::initializer_list<const char*> candidates) {
  for (const char* dir : candidates) {
    struct statfs st {};
    if (::statfs(dir, &st) == 0 && static_cast<long>(st.f_type) == magic && ::access(dir, W_OK) == 0) return fs::path(dir);
  }
  return std::nullopt;
}

// Registers the suite for one file system; false if there is none of that type here.
bool register_on(const std::string& what, long magic, std::initializer_list<const char*> candidates,
                 FilesystemDriverOptions options) {
  auto base = directory_on(magic, candidates);
  if (!base) return false;
  return rs::testing::register_storage_driver_suite("filesystem driver on " + what, driver_under(*base, options));
}

// The disk (O_DIRECT with the partial block through the page cache), the disk without
// O_DIRECT, and tmpfs (which refuses O_DIRECT: the writer falls back).
const bool kOnExt4 = register_on("ext4", EXT4_SUPER_MAGIC, {"/var/tmp", "/tmp", "."}, {});
const bool kOnExt4Buffered = register_on("ext4 without O_DIRECT", EXT4_SUPER_MAGIC, {"/var/tmp", "/tmp", "."},
                                         {.direct_io = false});
const bool kOnTmpfs = register_on("tmpfs", TMPFS_MAGIC, {"/dev/shm", "/tmp", "/run"}, {});

}  // namespace

TEST_CASE("the driver suite ran on ext4 and tmpfs") {
  // A machine without one of them runs the suite on the others; this says which.
  if (!kOnExt4) WARN("no writable ext4 directory: the suite did not run on ext4");
  if (!kOnTmpfs) WARN("no writable tmpfs directory: the suite did not run on tmpfs");
  CHECK((kOnExt4 || kOnTmpfs));
  CHECK(kOnExt4 == kOnExt4Buffered);
}

TEST_CASE("a reader's descriptor serves explicit offsets (what sendfile uses)") {
  rs::testing::TempDir dir;
  FilesystemDriver d(dir.str());
  REQUIRE(d.put_content("/blob", "hello world").ok());
  auto r = d.reader("/blob");
  REQUIRE(r.ok());
  REQUIRE((*r)->native_handle() >= 0);
  char buf[5];
  REQUIRE(::pread((*r)->native_handle(), buf, sizeof buf, 6) == 5);
  CHECK(std::string(buf, 5) == "world");
}

TEST_CASE("files live under the root at their driver path, errors name the driver path") {
  rs::testing::TempDir dir;
  FilesystemDriver d(dir.str() + "/");
  REQUIRE(d.put_content("/docker/registry/v2/x", "1").ok());
  CHECK(fs::is_regular_file(dir.path / "docker/registry/v2/x"));
  auto missing = d.reader("/docker/nope");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("'/docker/nope'"));
  CHECK_THAT(missing.error().message, !Catch::Contains(dir.str()));
}

TEST_CASE("with direct_io off, writers write through the page cache at once") {
  rs::testing::TempDir dir;
  FilesystemDriver d(dir.str(), {.direct_io = false});
  auto w = d.writer("/f", false);
  REQUIRE(w.ok());
  CHECK((*w)->buffer().empty());
  REQUIRE((*w)->write("abc", 3).ok());
  CHECK(fs::file_size(dir.path / "f") == 3);
}

namespace {

// The directories synced while one lives, in order (core's test observer).
struct SyncedDirectories {
  static inline std::vector<std::string>* seen = nullptr;
  std::vector<std::string> dirs;
  SyncedDirectories() {
    seen = &dirs;
    rs::set_directory_sync_observer([](const std::string& dir) { seen->push_back(dir); });
  }
  ~SyncedDirectories() {
    rs::set_directory_sync_observer(nullptr);
    seen = nullptr;
  }
};

}  // namespace

TEST_CASE("a write that creates directories syncs each one that got an entry, and the one its file lands in") {
  rs::testing::TempDir dir;
  FilesystemDriver d(dir.str());
  const std::string root = dir.str();
  REQUIRE(d.put_content("/a/first", "1").ok());
  {
    SyncedDirectories synced;
    REQUIRE(d.put_content("/a/b/c/link", "sha256:x").ok());
    // /a existed and got b, b got c, c got link.
    CHECK(synced.dirs == std::vector<std::string>{root + "/a", root + "/a/b", root + "/a/b/c"});
  }
  {
    SyncedDirectories synced;
    REQUIRE(d.put_content("/a/b/c/link", "sha256:y").ok());  // nothing new but the rename
    CHECK(synced.dirs == std::vector<std::string>{root + "/a/b/c"});
  }
  {
    auto w = d.writer("/a/up/data", false);
    REQUIRE(w.ok());
    REQUIRE((*w)->write("blob", 4).ok());
    REQUIRE((*w)->commit().ok());
  }
  {
    SyncedDirectories synced;
    REQUIRE(d.move("/a/up/data", "/blobs/sha256/ab/abcd/data").ok());
    CHECK(synced.dirs == std::vector<std::string>{root, root + "/blobs", root + "/blobs/sha256", root + "/blobs/sha256/ab",
                                                  root + "/blobs/sha256/ab/abcd"});
  }
  CHECK(fs::is_directory(dir.path / "blobs/sha256/ab/abcd"));
  CHECK(*d.get_content("/blobs/sha256/ab/abcd/data", 10) == "blob");
  CHECK(*d.get_content("/a/b/c/link", 10) == "sha256:y");
}

TEST_CASE("a directory that cannot be made is named by its driver path, the root only in the log") {
  rs::testing::TempDir dir;
  FilesystemDriver d(dir.str());
  REQUIRE(d.put_content("/docker/file", "in the way").ok());
  auto put = d.put_content("/docker/file/sub/link", "x");
  auto writer = d.writer("/docker/file/sub/data", false);
  auto moved = d.move("/docker/file", "/docker/file/sub/moved");
  REQUIRE_FALSE(put.ok());
  REQUIRE_FALSE(writer.ok());
  REQUIRE_FALSE(moved.ok());
  for (const rs::Error& e : {put.error(), writer.error(), moved.error()}) {
    CHECK_THAT(e.message, Catch::Contains("'/docker/file/sub'"));
    CHECK_THAT(e.message, !Catch::Contains(dir.str()));
  }
}

TEST_CASE("stat tells when a file or directory last changed") {
  rs::testing::TempDir dir;
  FilesystemDriver d(dir.str());
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(2);
  REQUIRE(d.put_content("/dir/file", "x").ok());
  const auto after = std::chrono::system_clock::now() + std::chrono::seconds(2);
  for (const char* path : {"/dir/file", "/dir"}) {
    auto info = d.stat(path);
    REQUIRE(info.ok());
    CHECK(info->modified > before);
    CHECK(info->modified < after);
  }
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(200);
  fs::last_write_time(dir.path / "dir/file", old);
  CHECK(d.stat("/dir/file")->modified < before - std::chrono::hours(199));
}
