// A fresh temporary directory for a test, removed with everything in it at the end of the
// scope. Shared by the tests of every component.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

namespace rs::testing {

struct TempDir {
  std::filesystem::path path;

  TempDir() : TempDir(std::filesystem::temp_directory_path()) {}
  // Under `base`: a test that needs a given file system (/var/tmp on disk, /dev/shm tmpfs).
  explicit TempDir(const std::filesystem::path& base) {
    // PID and a random number: tests of several binaries run in parallel.
    path = base / ("rs-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path.string(); }
};

}  // namespace rs::testing
