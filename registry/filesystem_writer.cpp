#include "registry/filesystem_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace rs::registry {
namespace {

constexpr std::size_t kStageBytes = FilesystemWriter::kStageBytes;

// Upload buffers are mapped, not allocated: they go back to the system when an upload
// ends (malloc would keep them in its heap after the first few), and they are page-aligned
// as O_DIRECT wants. `huge`: aligned to its size so the kernel can back it with one huge page.
char* map_stage(bool huge) {
  const std::size_t span = huge ? 2 * kStageBytes : kStageBytes;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<std::uintptr_t>(p);
  if (!huge) return static_cast<char*>(p);
  std::uintptr_t aligned = (start + kStageBytes - 1) & ~std::uintptr_t{kStageBytes - 1};
  if (aligned > start) ::munmap(p, aligned - start);
  if (std::uintptr_t end = start + span, used = aligned + kStageBytes; end > used)
    ::munmap(reinterpret_cast<void*>(used), end - used);
  ::madvise(reinterpret_cast<void*>(aligned), kStageBytes, MADV_HUGEPAGE);
  return reinterpret_cast<char*>(aligned);
}

// The memory budget of all writers' buffers (FilesystemWriter::kBudgetBytes).
class StageBudget {
 public:
  static bool take(std::size_t n) {
    std::size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (used + n > FilesystemWriter::kBudgetBytes) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  static void give_back(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  static inline std::atomic<std::size_t> used_{0};
};

}  // namespace

int pwrite_full(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

Result<void> pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t offset, const std::string& what) {
  if (int e = pwrite_full(fd, data, size, offset)) return errno_error("write '" + what + "'", e);
  return ok();
}

void FilesystemWriter::Unmap::operator()(char* p) const { ::munmap(p, kStageBytes); }

Result<std::unique_ptr<FileWriter>> FilesystemWriter::open(const std::string& file, const std::string& shown,
                                                           bool append, bool direct) {
  const int flags = O_RDWR | O_CREAT | O_CLOEXEC | (append ? 0 : O_TRUNC);
  Fd fd(-1);
  if (direct) {
    fd = Fd(::open(file.c_str(), flags | O_DIRECT, 0644));
    if (fd.get() < 0 && errno == EINVAL) direct = false;  // no O_DIRECT on this file system
  }
  if (!direct) fd = Fd(::open(file.c_str(), flags, 0644));
  if (fd.get() < 0) return errno_error("open '" + shown + "'", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat '" + shown + "'", errno);
  std::unique_ptr<FilesystemWriter> writer(
      new FilesystemWriter(std::move(fd), static_cast<std::uint64_t>(st.st_size), shown, direct));
  if (auto r = writer->start(); !r) return r.error();
  return std::unique_ptr<FileWriter>(std::move(writer));
}

FilesystemWriter::FilesystemWriter(Fd fd, std::uint64_t size, std::string path, bool direct)
    : fd_(std::move(fd)), size_(size), flushed_(size), path_(std::move(path)), direct_(direct) {}

FilesystemWriter::~FilesystemWriter() {
  (void)flush();  // an interrupted request keeps what arrived
  if (disk_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    disk_.join();
  }
  StageBudget::give_back(budget_);
}

// Loads the partial block at the end of the file, where appending starts.
Result<void> FilesystemWriter::start() {
  if (!direct_) return ok();
  // The first buffer on ordinary pages: a small upload touches only what it uses.
  if (StageBudget::take(kStageBytes)) {
    budget_ += kStageBytes;
    stage_ = StageMemory(map_stage(false));
  }
  if (!stage_) {
    direct_ = false;
    return set_direct(false);
  }
  stage_offset_ = size_ - size_ % kAlign;
  staged_ = static_cast<std::size_t>(size_ - stage_offset_);
  if (staged_ == 0) return ok();
  // O_DIRECT reads whole blocks too: ask for one, the file's end makes it short.
  ssize_t n;
  do {
    n = ::pread(fd_.get(), stage_.get(), kAlign, static_cast<off_t>(stage_offset_));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EINVAL) {  // the file system wants other alignments: no O_DIRECT
    direct_ = false;
    staged_ = 0;
    stage_offset_ = size_;
    return set_direct(false);
  }
  if (n < 0) return errno_error("read '" + path_ + "'", errno);
  if (static_cast<std::size_t>(n) < staged_) return make_error(Errc::io, "'" + path_ + "' shrank while opening it");
  return ok();
}

Result<void> FilesystemWriter::write(const char* data, std::size_t size) {
  if (failed_) return failed();
  if (!direct_) {
    auto r = pwrite_all(fd_.get(), data, size, size_, path_);
    if (!r) {
      failed_ = true;  // (the file may hold part of it: the store rehashes what is there)
      return r;
    }
    size_ += size;
    start_writeback();
    return r;
  }
  dirty_ = dirty_ || size > 0;
  while (size > 0) {
    std::size_t n = std::min(size, kStageBytes - staged_);
    if (data != stage_.get() + staged_) std::memcpy(stage_.get() + staged_, data, n);
    staged_ += n;
    size_ += n;
    data += n;
    size -= n;
    if (staged_ == kStageBytes) {
      if (auto r = write_behind(); !r) {
        failed_ = true;
        return r;
      }
      stage_offset_ += kStageBytes;
      staged_ = 0;
    }
  }
  return ok();
}

std::span<char> FilesystemWriter::buffer() {
  if (!direct_) return {};
  return {stage_.get() + staged_, kStageBytes - staged_};
}

Result<void> FilesystemWriter::flush() {
  if (failed_) return failed();
  auto r = flush_staged();
  if (!r) failed_ = true;
  return r;
}

Result<void> FilesystemWriter::commit() {
  if (auto r = flush(); !r) return r;
  if (::fdatasync(fd_.get()) != 0) return errno_error("fsync '" + path_ + "'", errno);
  return ok();
}

// The second buffer, for large uploads only: on one huge page where the kernel has them
// (fewer pages for O_DIRECT to pin and for the TLB while receiving and hashing).
FilesystemWriter::StageMemory FilesystemWriter::spare_buffer() {
  if (!StageBudget::take(kStageBytes)) return nullptr;
  budget_ += kStageBytes;
  return StageMemory(map_stage(true));
}

Error FilesystemWriter::failed() const { return Error{Errc::io, "an earlier write to '" + path_ + "' failed"}; }

Result<void> FilesystemWriter::flush_staged() {
  if (auto r = wait_disk(); !r) return r;
  if (staged_ == 0 || !dirty_) return ok();
  const std::size_t whole = staged_ - staged_ % kAlign;
  if (whole > 0) {
    if (auto r = write_stage(whole); !r) return r;
    std::memmove(stage_.get(), stage_.get() + whole, staged_ - whole);
    stage_offset_ += whole;
    staged_ -= whole;
  }
  if (staged_ == 0) {
    dirty_ = false;
    return ok();
  }
  // The partial block goes through the page cache and stays staged (in direct mode).
  if (direct_)
    if (auto r = set_direct(false); !r) return r;
  auto r = pwrite_all(fd_.get(), stage_.get(), staged_, stage_offset_, path_);
  if (direct_ && !set_direct(true)) direct_ = false;  // still correct, only slower
  if (r && !direct_) {
    stage_offset_ += staged_;
    staged_ = 0;
  }
  if (r) dirty_ = false;
  return r;
}

// Hands the full stage to the disk thread and takes the spare buffer to fill next.
Result<void> FilesystemWriter::write_behind() {
  if (!direct_) return write_stage(kStageBytes);
  if (auto r = wait_disk(); !r) return r;
  if (!spare_) {
    spare_ = spare_buffer();
    if (!spare_) return write_stage(kStageBytes);  // no write-behind, still direct
  }
  std::swap(stage_, spare_);
  {
    std::lock_guard lock(mutex_);
    job_ = Job{spare_.get(), kStageBytes, stage_offset_, 0};
    pending_ = true;
  }
  if (!disk_.joinable()) disk_ = std::thread([this] { disk_loop(); });
  wake_.notify_all();
  return ok();
}

// Waits for the disk thread's write; if O_DIRECT was refused, writes it the ordinary way.
Result<void> FilesystemWriter::wait_disk() {
  Job done;
  {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [this] { return !pending_; });
    done = std::exchange(job_, Job{});
  }
  if (done.error == 0) return ok();
  if (done.error != EINVAL) return errno_error("write '" + path_ + "'", done.error);
  direct_ = false;
  if (auto r = set_direct(false); !r) return r;
  return pwrite_all(fd_.get(), done.data, done.size, done.offset, path_);
}

void FilesystemWriter::disk_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return pending_ || stop_; });
    if (!pending_) return;
    const Job job = job_;
    lock.unlock();
    const int error = pwrite_full(fd_.get(), job.data, job.size, job.offset);
    lock.lock();
    job_.error = error;
    pending_ = false;
    wake_.notify_all();
  }
}

// Writes the first `n` (aligned) staged bytes at stage_offset_. If the file system
// refuses O_DIRECT (EINVAL), the writer goes on with ordinary writes.
Result<void> FilesystemWriter::write_stage(std::size_t n) {
  int error = pwrite_full(fd_.get(), stage_.get(), n, stage_offset_);
  if (error == EINVAL && direct_) {  // (writing the bytes again is harmless)
    direct_ = false;
    if (auto r = set_direct(false); !r) return r;
    error = pwrite_full(fd_.get(), stage_.get(), n, stage_offset_);
  }
  if (error) return errno_error("write '" + path_ + "'", error);
  return ok();
}

Result<void> FilesystemWriter::set_direct(bool on) {
  int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) != 0)
    return errno_error("fcntl '" + path_ + "'", errno);
  return ok();
}

// Buffered mode: start writeback of what has piled up, so the final fsync is short and
// the kernel does not throttle this writer later with a large dirty backlog.
void FilesystemWriter::start_writeback() {
  if (size_ - flushed_ < kWritebackStep) return;
  ::sync_file_range(fd_.get(), static_cast<off_t>(flushed_), static_cast<off_t>(size_ - flushed_),
                    SYNC_FILE_RANGE_WRITE);
  flushed_ = size_;
}

}  // namespace rs::registry
