// StorageDriver in memory: storage_driver.hpp's contract without a disk, for the tests of
// the layers above (fast, nothing left behind) and as the model a new driver is held to.
// Thread-safe. Directories behave as on a file system: created as parents, gone only when
// removed. An open writer keeps its file as a file descriptor would: a move takes the
// file along, a remove leaves the writer writing to a file nobody sees. Nothing is durable.
#pragma once

#include "registry/storage_driver.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace rs::registry {

class MemoryDriver final : public StorageDriver {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // `clock` stamps `modified` (tests move time on; default: the system clock).
  explicit MemoryDriver(Clock clock = {});
  ~MemoryDriver() override;

  Result<std::string> get_content(const std::string& path, std::uint64_t max_size) override;
  Result<void> put_content(const std::string& path, std::string_view content) override;
  Result<std::unique_ptr<FileReader>> reader(const std::string& path) override;
  Result<std::unique_ptr<FileWriter>> writer(const std::string& path, bool append) override;
  Result<FileInfo> stat(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& path) override;
  Result<void> move(const std::string& from, const std::string& to, bool durable = true) override;
  Result<void> remove(const std::string& path) override;
  Result<void> touch(const std::string& path) override;
  Result<void> create_exclusive(const std::string& path, std::string_view content) override;
  Result<void> remove_empty_dirs(const std::string& path) override;

  // The files, shared with the readers and writers handed out (memory_driver.cpp).
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace rs::registry
