// FileWriter on a local file, as the filesystem driver hands out for uploads and blobs.
//
// Uploads go to disk with O_DIRECT: the bytes are staged in an aligned buffer and written
// in whole blocks, so they skip the page cache (on this kind of machine an upload then costs
// about half the CPU, and leaves no gigabyte of dirty pages waiting for writeback).
// A full stage is written by the writer's own disk thread while the next one fills, so
// receiving and hashing go on during the disk write. The last, partial block goes through
// the page cache on flush() and is kept staged, so the next direct write rewrites it
// whole. Where O_DIRECT is refused (odd block sizes, some file systems), or not asked for,
// the writer uses ordinary writes and starts writeback as it goes.
#pragma once

#include "core/fd.hpp"
#include "registry/storage_driver.hpp"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace rs::registry {

// Writes all `size` bytes at `offset`: 0, or the errno of the write that failed (the file
// may then hold part of them).
int pwrite_full(int fd, const char* data, std::size_t size, std::uint64_t offset);
// The same as a Result naming `what`.
Result<void> pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset, const std::string& what);

class FilesystemWriter final : public FileWriter {
 public:
  static constexpr std::size_t kAlign = 4096;
  // One staging buffer (two while a disk write is behind).
  static constexpr std::size_t kStageBytes = 2 << 20;
  // Memory for staging buffers, shared by all writers: past it, new writers use ordinary
  // writes (the kernel bounds the page cache), so memory stays bounded however many
  // uploads run at once.
  static constexpr std::size_t kBudgetBytes = 128 << 20;
  static constexpr std::uint64_t kWritebackStep = 64 << 20;

  // Opens `file` (on disk) for writing at its end (append) or truncated; errors name
  // `shown` instead. `direct`: try O_DIRECT (off: ordinary writes only).
  static Result<std::unique_ptr<FileWriter>> open(const std::string& file, const std::string& shown, bool append,
                                                  bool direct);

  ~FilesystemWriter() override;
  FilesystemWriter(const FilesystemWriter&) = delete;
  FilesystemWriter& operator=(const FilesystemWriter&) = delete;

  Result<void> write(const char* data, std::size_t size) override;
  std::span<char> buffer() override;
  std::uint64_t size() const override { return size_; }
  // After a failed write nothing more is written: the file stays a prefix of what came.
  Result<void> flush() override;
  Result<void> commit() override;

 private:
  struct Unmap {
    void operator()(char* p) const;
  };
  using StageMemory = std::unique_ptr<char, Unmap>;
  // The one write the disk thread does at a time (from spare_).
  struct Job {
    const char* data = nullptr;
    std::size_t size = 0;
    std::uint64_t offset = 0;
    int error = 0;
  };

  FilesystemWriter(Fd fd, std::uint64_t size, std::string path, bool direct);

  Result<void> start();
  StageMemory spare_buffer();
  Error failed() const;
  Result<void> flush_staged();
  Result<void> write_behind();
  Result<void> wait_disk();
  void disk_loop();
  Result<void> write_stage(std::size_t n);
  Result<void> set_direct(bool on);
  void start_writeback();

  Fd fd_;
  std::uint64_t size_;     // bytes written, staged ones included
  std::uint64_t flushed_;  // buffered mode: writeback started up to here
  std::string path_;
  bool direct_;
  StageMemory stage_;
  std::uint64_t stage_offset_ = 0;  // where stage_[0] goes in the file (aligned)
  std::size_t staged_ = 0;
  bool dirty_ = false;      // staged bytes not yet in the file
  bool failed_ = false;     // a write failed: no more writes
  std::size_t budget_ = 0;  // taken from the shared budget

  StageMemory spare_;
  std::thread disk_;
  std::mutex mutex_;
  std::condition_variable wake_;
  Job job_;
  bool pending_ = false;
  bool stop_ = false;
};

}  // namespace rs::registry
