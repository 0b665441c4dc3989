// StorageDriver on a local directory: atomic renames, fsync'd data, sendfile-able reads.
// What a write creates is durable when it returns: new directories and renames are synced
// in the directories that hold them.
// Errors name driver paths ("/docker/registry/v2/..."), not where the root is: they may
// reach clients in 500 answers (the server names the root when it starts).
#pragma once

#include "registry/storage_driver.hpp"

#include <functional>

namespace rs::registry {

struct FilesystemDriverOptions {
  // Writers skip the page cache where the file system allows it (filesystem_writer.hpp).
  bool direct_io = true;
};

class FilesystemDriver final : public StorageDriver {
 public:
  explicit FilesystemDriver(std::string root, FilesystemDriverOptions options = {});

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

  const std::string& root() const { return root_; }

 private:
  std::string full(const std::string& path) const { return root_ + path; }
  // Creates the missing parents of `path`, durably (a commit's rename needs them to be).
  Result<void> make_parents(const std::string& path);
  // make_parents, then `create`, again while it finds a parent gone (Errc::not_found).
  Result<void> with_parents(const std::string& path, const std::function<Result<void>()>& create);
  std::string root_;
  FilesystemDriverOptions options_;
};

}  // namespace rs::registry
