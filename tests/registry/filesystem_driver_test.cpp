#include "registry/filesystem_driver.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using rs::registry::FilesystemDriver;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("rs-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("put_content then get_content, with parents created") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  REQUIRE(d.put_content("/a/b/c/link", "sha256:abc").ok());
  auto got = d.get_content("/a/b/c/link", 100);
  REQUIRE(got.ok());
  CHECK(*got == "sha256:abc");
  // No temporary file is left beside the target.
  auto names = d.list("/a/b/c");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"link"});
}

TEST_CASE("get_content refuses files over the limit") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  REQUIRE(d.put_content("/big", std::string(1000, 'x')).ok());
  auto got = d.get_content("/big", 999);
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().code == rs::Errc::invalid_argument);
}

TEST_CASE("writer appends and reports its size; reader reads it back") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  {
    auto w = d.writer("/u/data", false);
    REQUIRE(w.ok());
    REQUIRE((*w)->write("hello ", 6).ok());
    REQUIRE((*w)->commit().ok());
  }
  auto w = d.writer("/u/data", true);
  REQUIRE(w.ok());
  CHECK((*w)->size() == 6);
  REQUIRE((*w)->write("world", 5).ok());
  CHECK((*w)->size() == 11);
  // Written bytes may stay buffered until flush() (the contract): readers see them after it.
  REQUIRE((*w)->flush().ok());
  auto r = d.reader("/u/data");
  REQUIRE(r.ok());
  CHECK((*r)->size() == 11);
  CHECK((*r)->native_handle() >= 0);
  char buf[32];
  auto n = (*r)->read(buf, sizeof buf);
  REQUIRE(n.ok());
  CHECK(std::string(buf, *n) == "hello world");
}

TEST_CASE("missing paths are not_found; remove of a missing path is fine") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  CHECK(d.stat("/nope").error().code == rs::Errc::not_found);
  CHECK(d.list("/nope").error().code == rs::Errc::not_found);
  CHECK(d.reader("/nope").error().code == rs::Errc::not_found);
  CHECK(d.remove("/nope").ok());
}

TEST_CASE("move replaces the target and removes trees") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  REQUIRE(d.put_content("/src/data", "new").ok());
  REQUIRE(d.put_content("/dst/x/data", "old").ok());
  REQUIRE(d.move("/src/data", "/dst/x/data").ok());
  CHECK(*d.get_content("/dst/x/data", 10) == "new");
  CHECK(d.stat("/src/data").error().code == rs::Errc::not_found);
  REQUIRE(d.remove("/dst").ok());
  CHECK(d.stat("/dst").error().code == rs::Errc::not_found);
}

TEST_CASE("with direct_io off, writers write through the page cache at once") {
  TempDir dir;
  FilesystemDriver d(dir.path.string(), {.direct_io = false});
  auto w = d.writer("/f", false);
  REQUIRE(w.ok());
  CHECK((*w)->buffer().empty());
  REQUIRE((*w)->write("abc", 3).ok());
  CHECK(fs::file_size(dir.path / "f") == 3);
}
