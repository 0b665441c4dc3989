// The storage driver contract: a small file-system-like interface that the registry's
// storage layer is written against (as distribution's storagedriver.StorageDriver).
// Paths are absolute driver paths ("/docker/registry/v2/..."), already validated.
// FilesystemDriver is the default, MemoryDriver serves tests; an object-store driver can
// hold the same layout. tests/registry/storage_driver_suite.hpp checks every rule below,
// and every driver passes it.
#pragma once

#include "core/result.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rs::registry {

// Changes whenever a file may have been replaced or rewritten (for files: inode, size and
// times); all zero when the driver cannot tell, and then nothing is cached by it.
using FileVersion = std::array<std::uint64_t, 4>;

struct FileInfo {
  std::uint64_t size = 0;
  bool is_dir = false;
  FileVersion version{};
  // When the content (of a directory: its entries) last changed; the epoch when the driver
  // cannot tell.
  std::chrono::system_clock::time_point modified{};
};

class FileReader {
 public:
  virtual ~FileReader() = default;
  // Reads up to `size` bytes at the current position; 0 at the end.
  virtual Result<std::size_t> read(char* data, std::size_t size) = 0;
  // Total size of the content.
  virtual std::uint64_t size() const = 0;
  // A file descriptor the server may sendfile() from (with explicit offsets), or -1.
  virtual int native_handle() const { return -1; }
};

class FileWriter {
 public:
  virtual ~FileWriter() = default;
  // May keep the bytes in a buffer until flush(), commit() or the writer's end.
  virtual Result<void> write(const char* data, std::size_t size) = 0;
  // Where the next bytes may be placed to save a copy (empty: nowhere). A write() whose
  // data starts there and fits takes the bytes in place.
  virtual std::span<char> buffer() { return {}; }
  // Bytes in the file, including what was there before an append and what is buffered.
  virtual std::uint64_t size() const = 0;
  // Hands everything written so far to storage (readers see it; not yet durable).
  virtual Result<void> flush() = 0;
  // Makes everything written so far durable (flush and fsync).
  virtual Result<void> commit() = 0;
};

class StorageDriver {
 public:
  virtual ~StorageDriver() = default;

  // Whole small file, refusing more than `max_size` bytes (Errc::invalid_argument).
  virtual Result<std::string> get_content(const std::string& path, std::uint64_t max_size) = 0;
  // Writes a whole file atomically (readers see the old or the new content), creating parents.
  virtual Result<void> put_content(const std::string& path, std::string_view content) = 0;
  virtual Result<std::unique_ptr<FileReader>> reader(const std::string& path) = 0;
  // Opens for writing at the end (append) or truncated, creating parents.
  virtual Result<std::unique_ptr<FileWriter>> writer(const std::string& path, bool append) = 0;
  // Errc::not_found if absent.
  virtual Result<FileInfo> stat(const std::string& path) = 0;
  // Names of the direct children of a directory, unsorted; Errc::not_found if absent.
  virtual Result<std::vector<std::string>> list(const std::string& path) = 0;
  // Moves a file, replacing `to` atomically, creating its parents. Not `durable`: a crash
  // soon after may undo it (the garbage collector's moves aside need no more).
  virtual Result<void> move(const std::string& from, const std::string& to, bool durable = true) = 0;
  // Deletes a file or a whole directory tree; absent is not an error.
  virtual Result<void> remove(const std::string& path) = 0;
  // Sets a file's `modified` to now (its content stays); Errc::not_found if absent. The
  // garbage collector never sweeps a blob touched within its grace window (gc.hpp).
  virtual Result<void> touch(const std::string& path) = 0;
  // Writes a whole file only if nothing is at `path` (Errc::already_exists otherwise);
  // readers see all of the content or no file. The storage lock is made of this.
  virtual Result<void> create_exclusive(const std::string& path, std::string_view content) = 0;
  // Deletes the directories of the tree at `path` (itself included) that hold no file,
  // deepest first; a directory that holds a file, also one created meanwhile, stays. Absent
  // is not an error; a driver without directories has nothing to do.
  virtual Result<void> remove_empty_dirs(const std::string& path) = 0;
};

}  // namespace rs::registry
