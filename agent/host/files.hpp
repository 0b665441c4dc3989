// The files of one host. Production: rooted at "/" (LocalFiles) or reached through ssh
// (CommandFiles); unit tests: LocalFiles rooted at a temp dir.
#pragma once

#include "core/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

// Reads are bounded: a file larger than this is an error, not an out-of-memory.
inline constexpr std::size_t kMaxFileBytes = 256 * 1024 * 1024;

class Files {
 public:
  virtual ~Files() = default;
  // The whole content, or nullopt when the file does not exist.
  virtual Result<std::optional<std::string>> read(const std::string& path) = 0;
  // Atomic replace: temp file in the same directory, fsync, rename. Creates parent dirs.
  virtual Result<void> write(const std::string& path, const std::string& content, unsigned mode) = 0;
  // Writes into an existing file in place (for /proc/sys, where rename is impossible).
  virtual Result<void> overwrite(const std::string& path, const std::string& content) = 0;
  // Removes a file; absent is fine.
  virtual Result<void> remove(const std::string& path) = 0;
  // Names of the entries of a directory, sorted; empty when it does not exist.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  // Lowercase hex SHA-256 of the content, or nullopt when the file does not exist.
  virtual Result<std::optional<std::string>> sha256(const std::string& path) = 0;
};

}  // namespace rs::agent
