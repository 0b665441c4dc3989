#include "core/atomic_file.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using rs::make_dirs;
using rs::write_file_atomic;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("write_file_atomic writes the content with the exact mode and replaces an old file") {
  rs::testing::TempDir dir;
  const auto path = dir.path / "it's.conf";
  const std::string binary("\0\x01\xff line\n", 9);
  auto old_umask = ::umask(077);
  REQUIRE(write_file_atomic(path.string(), binary, 0644).ok());
  ::umask(old_umask);
  CHECK(read_text(path) == binary);
  CHECK(mode_of(path) == 0644);
  REQUIRE(write_file_atomic(path.string(), "new", 0600).ok());
  CHECK(read_text(path) == "new");
  CHECK(mode_of(path) == 0600);
  REQUIRE(write_file_atomic(path.string(), "", 0600).ok());
  CHECK(read_text(path).empty());
  CHECK(names_in(dir.path) == std::vector<std::string>{"it's.conf"});  // no temp file left behind
}

TEST_CASE("write_file_atomic fails cleanly, naming the path it is told to show") {
  rs::testing::TempDir dir;
  auto missing = write_file_atomic((dir.path / "none" / "x").string(), "x", 0644, "/etc/x");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == rs::Errc::not_found);
  CHECK(missing.error().message.rfind("write '/etc/x': ", 0) == 0);
  // A directory in the way: the rename fails, the temp file goes, the directory stays.
  fs::create_directories(dir.path / "taken" / "inner");
  auto taken = write_file_atomic((dir.path / "taken").string(), "x", 0644);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().message.find("rename into '" + (dir.path / "taken").string() + "'") != std::string::npos);
  CHECK(names_in(dir.path) == std::vector<std::string>{"taken"});
  CHECK(fs::is_directory(dir.path / "taken" / "inner"));
}

TEST_CASE("concurrent writers: the file always holds one whole content") {
  rs::testing::TempDir dir;
  const auto path = (dir.path / "state.json").string();
  const std::string a(100000, 'a'), b(200000, 'b');
  auto writer = [&](const std::string& content) {
    for (int i = 0; i < 30; ++i) REQUIRE(write_file_atomic(path, content, 0644).ok());
  };
  std::thread t1(writer, a), t2(writer, b);
  for (int i = 0; i < 30; ++i) {
    auto text = read_text(path);
    CHECK((text.empty() || text == a || text == b));
  }
  t1.join();
  t2.join();
  auto text = read_text(path);
  CHECK((text == a || text == b));
  CHECK(names_in(dir.path) == std::vector<std::string>{"state.json"});
}

TEST_CASE("make_dirs creates missing parents, absolute or relative, and accepts existing ones") {
  rs::testing::TempDir dir;
  REQUIRE(make_dirs((dir.path / "a" / "b" / "c").string(), 0700).ok());
  CHECK(fs::is_directory(dir.path / "a" / "b" / "c"));
  CHECK(mode_of(dir.path / "a") == 0700);
  REQUIRE(make_dirs((dir.path / "a" / "b").string() + "/", 0755).ok());
  const auto cwd = fs::current_path();
  fs::current_path(dir.path);
  auto relative = make_dirs("r/./s", 0755);
  fs::current_path(cwd);
  REQUIRE(relative.ok());
  CHECK(fs::is_directory(dir.path / "r" / "s"));
  std::ofstream(dir.path / "file") << "x";
  CHECK_FALSE(make_dirs((dir.path / "file" / "sub").string(), 0755).ok());
  CHECK_FALSE(make_dirs((dir.path / "file").string(), 0755).ok());
}
