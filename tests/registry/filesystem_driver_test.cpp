#include "registry/filesystem_driver.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
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

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Writes `content` through several writers (each appending where the last one stopped),
// in pieces of random sizes, flushing now and then, and checks the file after each writer.
void write_in_sessions(FilesystemDriver& d, const fs::path& file, const std::string& content, unsigned seed) {
  std::mt19937 rng(seed);
  std::size_t pos = 0;
  bool first = true;
  while (pos < content.size()) {
    auto w = d.writer("/up/data", !first);
    REQUIRE(w.ok());
    REQUIRE((*w)->size() == pos);
    first = false;
    // Up to ~3 MiB per session: crosses the 1 MiB staging buffer a few times.
    std::size_t session_end = std::min(content.size(), pos + rng() % (3u << 20) + 1);
    while (pos < session_end) {
      std::size_t piece = std::min<std::size_t>(session_end - pos, 1 + rng() % 300000);
      REQUIRE((*w)->write(content.data() + pos, piece).ok());
      pos += piece;
      CHECK((*w)->size() == pos);
      if (rng() % 8 == 0) {
        REQUIRE((*w)->flush().ok());
        CHECK(fs::file_size(file) == pos);
      }
    }
    if (rng() % 2) REQUIRE((*w)->commit().ok());
    // else: the writer just ends, as when a client goes away mid-request
    w->reset();
    REQUIRE(fs::file_size(file) == pos);
    REQUIRE(file_bytes(file) == content.substr(0, pos));
  }
}

}  // namespace

TEST_CASE("writes land whole and in order across writers, flushes and unaligned ends") {
  std::string content(9 * 1024 * 1024 + 777, '\0');
  std::mt19937 rng(7);
  for (auto& c : content) c = static_cast<char>(rng());
  // The disk (O_DIRECT with the partial block through the page cache) and tmpfs.
  for (fs::path base : {fs::temp_directory_path(), fs::path("/dev/shm")}) {
    if (!fs::is_directory(base)) continue;
    for (unsigned seed : {1u, 2u, 3u}) {
      INFO("base " << base << ", seed " << seed);
      fs::path root = base / ("rs-test-" + std::to_string(std::random_device{}()));
      fs::create_directories(root);
      FilesystemDriver d(root.string());
      write_in_sessions(d, root / "up/data", content, seed);
      fs::remove_all(root);
    }
  }
}

TEST_CASE("an appending writer that ends without flush keeps every byte") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  {
    auto w = d.writer("/f", false);
    REQUIRE(w.ok());
    REQUIRE((*w)->write("abc", 3).ok());
  }
  CHECK(file_bytes(dir.path / "f") == "abc");
  std::string big(5000, 'x');
  {
    auto w = d.writer("/f", true);
    REQUIRE(w.ok());
    REQUIRE((*w)->write(big.data(), big.size()).ok());
  }
  CHECK(file_bytes(dir.path / "f") == "abc" + big);
}

TEST_CASE("upload buffers have a memory budget; writers past it write the ordinary way") {
  TempDir dir;
  FilesystemDriver d(dir.path.string());
  // 128 MiB of 2 MiB buffers: 64 writers get one, the next ones write through the page cache.
  std::vector<std::unique_ptr<rs::registry::FileWriter>> writers;
  for (int i = 0; i < 70; ++i) {
    auto w = d.writer("/w/" + std::to_string(i), false);
    REQUIRE(w.ok());
    writers.push_back(std::move(*w));
  }
  int buffered = 0;
  for (auto& w : writers) buffered += w->buffer().empty() ? 1 : 0;
  CHECK(buffered == 6);
  // Every writer, with a buffer or not, stores what it is given.
  for (std::size_t i = 0; i < writers.size(); ++i) {
    std::string text = "writer " + std::to_string(i) + std::string(5000 + i, 'x');
    REQUIRE(writers[i]->write(text.data(), text.size()).ok());
    REQUIRE(writers[i]->commit().ok());
  }
  writers.clear();  // the budget comes back
  auto again = d.writer("/w/again", false);
  REQUIRE(again.ok());
  CHECK_FALSE((*again)->buffer().empty());
  for (std::size_t i = 0; i < 70; ++i)
    CHECK(file_bytes(dir.path / "w" / std::to_string(i)) == "writer " + std::to_string(i) + std::string(5000 + i, 'x'));
}
