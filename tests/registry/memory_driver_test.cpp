#include "registry/memory_driver.hpp"

#include "storage_driver_suite.hpp"

#include <catch2/catch.hpp>

using rs::registry::MemoryDriver;

namespace {

const bool kRegistered =
    rs::testing::register_storage_driver_suite("memory driver", [] { return std::make_shared<MemoryDriver>(); });

}  // namespace

TEST_CASE("memory driver: an open writer keeps its file through a move, as a descriptor does") {
  MemoryDriver d;
  auto w = d.writer("/uploads/1/data", false);
  REQUIRE(w.ok());
  REQUIRE((*w)->write("abc", 3).ok());
  REQUIRE((*w)->flush().ok());
  REQUIRE(d.move("/uploads/1/data", "/blobs/x/data").ok());
  REQUIRE((*w)->write("def", 3).ok());
  REQUIRE((*w)->flush().ok());
  CHECK(*d.get_content("/blobs/x/data", 10) == "abcdef");
  CHECK(d.stat("/uploads/1/data").error().code == rs::Errc::not_found);
}

TEST_CASE("memory driver: bytes stay with the writer until flush") {
  MemoryDriver d;
  auto w = d.writer("/f", false);
  REQUIRE(w.ok());
  REQUIRE((*w)->write("abc", 3).ok());
  CHECK(d.stat("/f")->size == 0);
  REQUIRE((*w)->flush().ok());
  CHECK(d.stat("/f")->size == 3);
}

TEST_CASE("memory driver: directories stay until removed, as on a file system") {
  MemoryDriver d;
  REQUIRE(d.put_content("/a/b/c", "1").ok());
  REQUIRE(d.remove("/a/b/c").ok());
  CHECK(d.stat("/a/b")->is_dir);
  CHECK(d.list("/a/b")->empty());
  CHECK(kRegistered);
}
