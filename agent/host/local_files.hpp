// Files of this machine under a root directory ("/" in production).
#pragma once

#include "agent/host/files.hpp"

namespace rs::agent {

class LocalFiles : public Files {
 public:
  explicit LocalFiles(std::string root = "/") : root_(std::move(root)) {}

  Result<std::optional<std::string>> read(const std::string& path) override;
  Result<void> write(const std::string& path, const std::string& content, unsigned mode) override;
  Result<void> overwrite(const std::string& path, const std::string& content) override;
  Result<void> remove(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Result<std::optional<std::string>> sha256(const std::string& path) override;

  std::string real_path(const std::string& path) const;

 private:
  std::string root_;
};

}  // namespace rs::agent
