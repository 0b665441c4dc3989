#include "agent/host/local_files.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace rs::agent;
using namespace rs::agent::test;

TEST_CASE("local files: write makes the parents, sets the mode, replaces atomically under the root") {
  TempDir root;
  LocalFiles files(root.str());
  REQUIRE(files.write("/etc/docker/daemon.json", "{}\n", 0640).ok());
  CHECK(read_text(root.path / "etc/docker/daemon.json") == "{}\n");
  struct stat st {};
  REQUIRE(::stat((root.path / "etc/docker/daemon.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  REQUIRE(files.write("/etc/docker/daemon.json", "{\"a\": 1}\n", 0644).ok());
  CHECK(**files.read("/etc/docker/daemon.json") == "{\"a\": 1}\n");
  CHECK(*files.list("/etc/docker") == std::vector<std::string>{"daemon.json"});  // no temp file left
  // Errors name the path as the host knows it, not the test's root.
  write_text(root.path / "etc/blocked", "a file where a directory should be");
  auto blocked = files.write("/etc/blocked/x.conf", "x", 0644);
  REQUIRE_FALSE(blocked.ok());
  CHECK(blocked.error().message.rfind("write '/etc/blocked/x.conf': ", 0) == 0);
  write_text(root.path / "etc/taken/inner/f", "");
  auto taken = files.write("/etc/taken", "x", 0644);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().message.find("rename into '/etc/taken'") != std::string::npos);
}
