#include "registry/filesystem_writer.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using rs::registry::FileWriter;
using rs::registry::FilesystemWriter;

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::unique_ptr<FileWriter> open_writer(const fs::path& file, bool append, bool direct = true) {
  auto w = FilesystemWriter::open(file.string(), file.filename().string(), append, direct);
  REQUIRE(w.ok());
  return std::move(*w);
}

// Writes `content` through several writers (each appending where the last one stopped),
// in pieces of random sizes, flushing now and then, and checks the file after each writer.
void write_in_sessions(const fs::path& file, const std::string& content, unsigned seed, bool direct) {
  std::mt19937 rng(seed);
  std::size_t pos = 0;
  bool first = true;
  while (pos < content.size()) {
    auto w = open_writer(file, !first, direct);
    REQUIRE(w->size() == pos);
    first = false;
    // Up to ~3 MiB per session: crosses the 2 MiB staging buffer now and then.
    std::size_t session_end = std::min(content.size(), pos + rng() % (3u << 20) + 1);
    while (pos < session_end) {
      std::size_t piece = std::min<std::size_t>(session_end - pos, 1 + rng() % 300000);
      REQUIRE(w->write(content.data() + pos, piece).ok());
      pos += piece;
      CHECK(w->size() == pos);
      if (rng() % 8 == 0) {
        REQUIRE(w->flush().ok());
        CHECK(fs::file_size(file) == pos);
      }
    }
    if (rng() % 2) REQUIRE(w->commit().ok());
    // else: the writer just ends, as when a client goes away mid-request
    w.reset();
    REQUIRE(fs::file_size(file) == pos);
    REQUIRE(file_bytes(file) == content.substr(0, pos));
  }
}

// Whether files in `dir` can be opened with O_DIRECT (not on tmpfs, for one).
bool supports_direct(const fs::path& dir) {
  const fs::path probe = dir / "direct-probe";
  rs::Fd fd(::open(probe.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644));
  const bool ok = fd.get() >= 0;
  fs::remove(probe);
  return ok;
}

// A directory on the disk, where O_DIRECT is expected (/tmp may be tmpfs, /var/tmp rarely).
struct DiskDir : rs::testing::TempDir {
  DiskDir() : TempDir("/var/tmp") {}
};

}  // namespace

TEST_CASE("writes land whole and in order across writers, flushes and unaligned ends") {
  std::string content(9 * 1024 * 1024 + 777, '\0');
  std::mt19937 rng(7);
  for (auto& c : content) c = static_cast<char>(rng());
  // The disk (O_DIRECT with the partial block through the page cache), the disk without
  // O_DIRECT, and tmpfs (which refuses O_DIRECT).
  struct Place {
    fs::path base;
    bool direct;
  };
  for (const Place& place : {Place{"/var/tmp", true}, Place{"/var/tmp", false}, Place{"/dev/shm", true}}) {
    if (!fs::is_directory(place.base)) continue;
    for (unsigned seed : {1u, 2u, 3u}) {
      INFO("base " << place.base << ", direct " << place.direct << ", seed " << seed);
      rs::testing::TempDir root(place.base);
      write_in_sessions(root.path / "data", content, seed, place.direct);
    }
  }
}

TEST_CASE("an appending writer that ends without flush keeps every byte") {
  rs::testing::TempDir dir;
  const fs::path f = dir.path / "f";
  REQUIRE(open_writer(f, false)->write("abc", 3).ok());
  CHECK(file_bytes(f) == "abc");
  std::string big(5000, 'x');
  REQUIRE(open_writer(f, true)->write(big.data(), big.size()).ok());
  CHECK(file_bytes(f) == "abc" + big);
}

TEST_CASE("a truncating writer starts empty") {
  rs::testing::TempDir dir;
  const fs::path f = dir.path / "f";
  REQUIRE(open_writer(f, false)->write("old content", 11).ok());
  auto w = open_writer(f, false);
  CHECK(w->size() == 0);
  REQUIRE(w->write("new", 3).ok());
  REQUIRE(w->commit().ok());
  CHECK(file_bytes(f) == "new");
}

TEST_CASE("bytes received into the writer's buffer are taken in place") {
  DiskDir dir;
  if (!supports_direct(dir.path)) {
    WARN("no O_DIRECT in " << dir.path << ": writers have no staging buffer there");
    return;
  }
  const fs::path f = dir.path / "f";
  auto w = open_writer(f, false);
  std::span<char> into = w->buffer();
  REQUIRE(into.size() == FilesystemWriter::kStageBytes);
  std::memcpy(into.data(), "in place", 8);
  REQUIRE(w->write(into.data(), 8).ok());
  CHECK(w->size() == 8);
  REQUIRE(w->flush().ok());
  CHECK(file_bytes(f) == "in place");
}

TEST_CASE("without O_DIRECT a writer has no buffer and writes through at once") {
  rs::testing::TempDir dir;
  const fs::path f = dir.path / "f";
  auto w = open_writer(f, false, /*direct=*/false);
  CHECK(w->buffer().empty());
  REQUIRE(w->write("through", 7).ok());
  CHECK(file_bytes(f) == "through");
}

TEST_CASE("upload buffers have a memory budget, writers past it write the ordinary way") {
  DiskDir dir;
  if (!supports_direct(dir.path)) {
    WARN("no O_DIRECT in " << dir.path << ": writers have no staging buffer there");
    return;
  }
  const fs::path& base = dir.path;
  constexpr std::size_t kWithBuffer = FilesystemWriter::kBudgetBytes / FilesystemWriter::kStageBytes;
  std::vector<std::unique_ptr<FileWriter>> writers;
  for (std::size_t i = 0; i < kWithBuffer + 6; ++i) writers.push_back(open_writer(base / std::to_string(i), false));
  int unbuffered = 0;
  for (auto& w : writers) unbuffered += w->buffer().empty() ? 1 : 0;
  CHECK(unbuffered == 6);
  // Every writer, with a buffer or not, stores what it is given.
  for (std::size_t i = 0; i < writers.size(); ++i) {
    std::string text = "writer " + std::to_string(i) + std::string(5000 + i, 'x');
    REQUIRE(writers[i]->write(text.data(), text.size()).ok());
    REQUIRE(writers[i]->commit().ok());
  }
  writers.clear();  // the budget comes back
  CHECK_FALSE(open_writer(base / "again", false)->buffer().empty());
  for (std::size_t i = 0; i < kWithBuffer + 6; ++i)
    CHECK(file_bytes(base / std::to_string(i)) == "writer " + std::to_string(i) + std::string(5000 + i, 'x'));
}
