#include "registry/filesystem_driver.hpp"

#include "core/fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace rs::registry {
namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// Writes all `size` bytes at `offset`: 0, or the errno of the write that failed (the file
// may then hold part of them).
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

// Makes a rename durable.
void sync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

std::string temp_suffix() {
  static std::atomic<unsigned long> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(rng() & 0xffffff);
}

class FsReader final : public FileReader {
 public:
  FsReader(Fd fd, std::uint64_t size, std::string path) : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  Result<std::size_t> read(char* data, std::size_t size) override {
    while (true) {
      ssize_t n = ::read(fd_.get(), data, size);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_error("read '" + path_ + "'", errno);
    }
  }
  std::uint64_t size() const override { return size_; }
  int native_handle() const override { return fd_.get(); }

 private:
  Fd fd_;
  std::uint64_t size_;
  std::string path_;
};

// Upload buffers are mapped, not allocated: they go back to the system when an upload
// ends (malloc would keep them in its heap after the first few), and they are page-aligned
// as O_DIRECT wants.
constexpr std::size_t kStageBytes = 2 << 20;

struct Unmap {
  void operator()(char* p) const { ::munmap(p, kStageBytes); }
};
using StageMemory = std::unique_ptr<char, Unmap>;

// `huge`: aligned to its size so the kernel can back it with one huge page.
StageMemory map_stage(bool huge) {
  const std::size_t span = huge ? 2 * kStageBytes : kStageBytes;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<std::uintptr_t>(p);
  if (!huge) return StageMemory(static_cast<char*>(p));
  std::uintptr_t aligned = (start + kStageBytes - 1) & ~std::uintptr_t{kStageBytes - 1};
  if (aligned > start) ::munmap(p, aligned - start);
  if (std::uintptr_t end = start + span, used = aligned + kStageBytes; end > used)
    ::munmap(reinterpret_cast<void*>(used), end - used);
  ::madvise(reinterpret_cast<void*>(aligned), kStageBytes, MADV_HUGEPAGE);
  return StageMemory(reinterpret_cast<char*>(aligned));
}

// Memory for upload buffers, shared by all writers: past it, new writers use ordinary
// writes (the kernel bounds the page cache), so memory stays bounded however many
// uploads run at once.
class StageBudget {
 public:
  static constexpr std::size_t kBytes = 128 << 20;
  static bool take(std::size_t n) {
    std::size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (used + n > kBytes) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  static void give_back(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  static inline std::atomic<std::size_t> used_{0};
};

// Uploads go to disk with O_DIRECT: the bytes are staged in an aligned buffer and written
// in whole blocks, so they skip the page cache (on this kind of machine an upload then costs
// about half the CPU, and leaves no gigabyte of dirty pages waiting for writeback).
// A full stage is written by the writer's own disk thread while the next one fills, so
// receiving and hashing go on during the disk write. The last, partial block goes through
// the page cache on flush() and is kept staged, so the next direct write rewrites it
// whole. Where O_DIRECT is refused (odd block sizes, some file systems), the writer falls
// back to ordinary writes and starts writeback as it goes.
class FsWriter final : public FileWriter {
 public:
  static constexpr std::size_t kAlign = 4096;
  static constexpr std::size_t kStage = kStageBytes;
  static constexpr std::uint64_t kWritebackStep = 64 << 20;

  FsWriter(Fd fd, std::uint64_t size, std::string path, bool direct)
      : fd_(std::move(fd)), size_(size), flushed_(size), path_(std::move(path)), direct_(direct) {}

  ~FsWriter() override {
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
  Result<void> start() {
    if (!direct_) return ok();
    // The first buffer on ordinary pages: a small upload touches only what it uses.
    if (StageBudget::take(kStage)) {
      budget_ += kStage;
      stage_ = map_stage(false);
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

  Result<void> write(const char* data, std::size_t size) override {
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
      std::size_t n = std::min(size, kStage - staged_);
      if (data != stage_.get() + staged_) std::memcpy(stage_.get() + staged_, data, n);
      staged_ += n;
      size_ += n;
      data += n;
      size -= n;
      if (staged_ == kStage) {
        if (auto r = write_behind(); !r) {
          failed_ = true;
          return r;
        }
        stage_offset_ += kStage;
        staged_ = 0;
      }
    }
    return ok();
  }

  std::uint64_t size() const override { return size_; }

  std::span<char> buffer() override {
    if (!direct_) return {};
    return {stage_.get() + staged_, kStage - staged_};
  }

  // After a failed write nothing more is written: the file stays a prefix of what came.
  Result<void> flush() override {
    if (failed_) return failed();
    auto r = flush_staged();
    if (!r) failed_ = true;
    return r;
  }

  Result<void> commit() override {
    if (auto r = flush(); !r) return r;
    if (::fdatasync(fd_.get()) != 0) return errno_error("fsync '" + path_ + "'", errno);
    return ok();
  }

 private:
  // The second buffer, for large uploads only: on one huge page where the kernel has them
  // (fewer pages for O_DIRECT to pin and for the TLB while receiving and hashing).
  StageMemory spare_buffer() {
    if (!StageBudget::take(kStage)) return nullptr;
    budget_ += kStage;
    return map_stage(true);
  }

  Error failed() const { return Error{Errc::io, "an earlier write to '" + path_ + "' failed"}; }

  Result<void> flush_staged() {
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
  Result<void> write_behind() {
    if (!direct_) return write_stage(kStage);
    if (auto r = wait_disk(); !r) return r;
    if (!spare_) {
      spare_ = spare_buffer();
      if (!spare_) return write_stage(kStage);  // no write-behind, still direct
    }
    std::swap(stage_, spare_);
    {
      std::lock_guard lock(mutex_);
      job_ = Job{spare_.get(), kStage, stage_offset_, 0};
      pending_ = true;
    }
    if (!disk_.joinable()) disk_ = std::thread([this] { disk_loop(); });
    wake_.notify_all();
    return ok();
  }

  // Waits for the disk thread's write; if O_DIRECT was refused, writes it the ordinary way.
  Result<void> wait_disk() {
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

  void disk_loop() {
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
  Result<void> write_stage(std::size_t n) {
    int error = pwrite_full(fd_.get(), stage_.get(), n, stage_offset_);
    if (error == EINVAL && direct_) {  // (writing the bytes again is harmless)
      direct_ = false;
      if (auto r = set_direct(false); !r) return r;
      error = pwrite_full(fd_.get(), stage_.get(), n, stage_offset_);
    }
    if (error) return errno_error("write '" + path_ + "'", error);
    return ok();
  }

  Result<void> set_direct(bool on) {
    int flags = ::fcntl(fd_.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) != 0)
      return errno_error("fcntl '" + path_ + "'", errno);
    return ok();
  }

  // Buffered mode: start writeback of what has piled up, so the final fsync is short and
  // the kernel does not throttle this writer later with a large dirty backlog.
  void start_writeback() {
    if (size_ - flushed_ < kWritebackStep) return;
    ::sync_file_range(fd_.get(), static_cast<off_t>(flushed_), static_cast<off_t>(size_ - flushed_),
                      SYNC_FILE_RANGE_WRITE);
    flushed_ = size_;
  }

  Fd fd_;
  std::uint64_t size_;     // bytes written, staged ones included
  std::uint64_t flushed_;  // buffered mode: writeback started up to here
  std::string path_;
  bool direct_;
  StageMemory stage_;
  std::uint64_t stage_offset_ = 0;  // where stage_[0] goes in the file (aligned)
  std::size_t staged_ = 0;
  bool dirty_ = false;   // staged bytes not yet in the file
  bool failed_ = false;  // a write failed: no more writes
  std::size_t budget_ = 0;  // taken from StageBudget

  // The disk thread and the one write it does at a time (from spare_).
  struct Job {
    const char* data = nullptr;
    std::size_t size = 0;
    std::uint64_t offset = 0;
    int error = 0;
  };
  StageMemory spare_;
  std::thread disk_;
  std::mutex mutex_;
  std::condition_variable wake_;
  Job job_;
  bool pending_ = false;
  bool stop_ = false;
};

}  // namespace

Result<void> make_directories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ec == std::errc::permission_denied ? Errc::permission_denied : Errc::io,
                            "create directory '" + dir + "': " + ec.message());
  return ok();
}

FilesystemDriver::FilesystemDriver(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Result<std::string> FilesystemDriver::get_content(const std::string& path, std::uint64_t max_size) {
  auto r = reader(path);
  if (!r) return r.error();
  auto& rd = **r;
  if (rd.size() > max_size)
    return make_error(Errc::invalid_argument, "'" + path + "' is larger than " + std::to_string(max_size) + " bytes");
  std::string out(rd.size(), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = rd.read(out.data() + got, out.size() - got);
    if (!n) return n.error();
    if (*n == 0) break;
    got += *n;
  }
  out.resize(got);
  return out;
}

Result<void> FilesystemDriver::put_content(const std::string& path, std::string_view content) {
  std::string target = full(path);
  std::string dir = parent_of(target);
  if (auto r = make_directories(dir); !r) return r;
  const std::string suffix = temp_suffix(), tmp = target + suffix, shown_tmp = path + suffix;
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return errno_error("create '" + shown_tmp + "'", errno);
  auto r = pwrite_all(fd.get(), content.data(), content.size(), 0, shown_tmp);
  if (r && ::fdatasync(fd.get()) != 0) r = errno_error("fsync '" + shown_tmp + "'", errno);
  if (r && ::rename(tmp.c_str(), target.c_str()) != 0) r = errno_error("rename to '" + path + "'", errno);
  if (!r) {
    ::unlink(tmp.c_str());
    return r;
  }
  sync_dir(dir);
  return ok();
}

Result<std::unique_ptr<FileReader>> FilesystemDriver::reader(const std::string& path) {
  std::string p = full(path);
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("open '" + path + "'", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat '" + path + "'", errno);
  if (S_ISDIR(st.st_mode)) return make_error(Errc::not_found, "'" + path + "' is a directory");
  return std::unique_ptr<FileReader>(new FsReader(std::move(fd), static_cast<std::uint64_t>(st.st_size), path));
}

Result<std::unique_ptr<FileWriter>> FilesystemDriver::writer(const std::string& path, bool append) {
  std::string p = full(path);
  if (auto r = make_directories(parent_of(p)); !r) return r.error();
  const int flags = O_RDWR | O_CREAT | O_CLOEXEC | (append ? 0 : O_TRUNC);
  bool direct = true;
  Fd fd(::open(p.c_str(), flags | O_DIRECT, 0644));
  if (fd.get() < 0 && errno == EINVAL) {  // no O_DIRECT on this file system
    direct = false;
    fd = Fd(::open(p.c_str(), flags, 0644));
  }
  if (fd.get() < 0) return errno_error("open '" + path + "'", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat '" + path + "'", errno);
  auto writer = std::make_unique<FsWriter>(std::move(fd), static_cast<std::uint64_t>(st.st_size), path, direct);
  if (auto r = writer->start(); !r) return r.error();
  return std::unique_ptr<FileWriter>(std::move(writer));
}

Result<FileInfo> FilesystemDriver::stat(const std::string& path) {
  std::string p = full(path);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return errno_error("stat '" + path + "'", errno);
  auto ns = [](const timespec& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1000000000u + static_cast<std::uint64_t>(t.tv_nsec);
  };
  return FileInfo{static_cast<std::uint64_t>(st.st_size), S_ISDIR(st.st_mode),
                  FileVersion{static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
                              ns(st.st_mtim), ns(st.st_ctim)}};
}

Result<std::vector<std::string>> FilesystemDriver::list(const std::string& path) {
  std::string p = full(path);
  DIR* dir = ::opendir(p.c_str());
  if (!dir) return errno_error("list '" + path + "'", errno);
  std::vector<std::string> names;
  while (auto* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(dir);
  return names;
}

Result<void> FilesystemDriver::move(const std::string& from, const std::string& to) {
  std::string src = full(from), dst = full(to), dir = parent_of(dst);
  if (auto r = make_directories(dir); !r) return r;
  if (::rename(src.c_str(), dst.c_str()) != 0) return errno_error("rename '" + from + "' to '" + to + "'", errno);
  sync_dir(dir);
  return ok();
}

Result<void> FilesystemDriver::remove(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(full(path), ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return make_error(Errc::io, "remove '" + path + "': " + ec.message());
  return ok();
}

}  // namespace rs::registry
