#include "registry/filesystem_driver.hpp"

#include "storage_driver_suite.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

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
