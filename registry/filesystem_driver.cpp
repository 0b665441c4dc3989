#include "registry/filesystem_driver.hpp"

#include "core/atomic_file.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "registry/filesystem_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <thread>
#include <utility>

namespace rs::registry {
namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
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

}  // namespace

FilesystemDriver::FilesystemDriver(std::string root, FilesystemDriverOptions options)
    : root_(std::move(root)), options_(options) {
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

Result<void> FilesystemDriver::with_parents(const std::string& path, const std::function<Result<void>()>& create) {
  // remove_empty_dirs (garbage collection, maybe in another process) may take a parent
  // away between its mkdir and the create: make it again, a few times.
  constexpr int kAttempts = 8;
  for (int attempt = 1;; ++attempt) {
    auto parents = make_parents(path);
    auto r = parents ? create() : parents;
    if (r || r.error().code != Errc::not_found || attempt == kAttempts) {
      // The answer names the path inside the root; the log says where the root is.
      if (!parents) rs::log::get("registry")->warn("storage root '{}': {}", root_, parents.error().message);
      return r;
    }
    // (A collection tidying this very directory moves on within microseconds.)
    std::this_thread::sleep_for(std::chrono::microseconds(100 << attempt));
  }
}

Result<void> FilesystemDriver::make_parents(const std::string& path) {
  return make_dirs_durable(root_, parent_of(path));
}

Result<void> FilesystemDriver::put_content(const std::string& path, std::string_view content) {
  return with_parents(path, [&]() -> Result<void> {
    // Messages name the path inside the root, not the root's place on the host.
    return write_file_atomic(full(path), content, 0644, path);
  });
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
  std::unique_ptr<FileWriter> opened;
  auto r = with_parents(path, [&]() -> Result<void> {
    auto w = FilesystemWriter::open(full(path), path, append, options_.direct_io);
    if (!w) return w.error();
    opened = std::move(*w);
    return ok();
  });
  if (!r) return r.error();
  return opened;
}

Result<FileInfo> FilesystemDriver::stat(const std::string& path) {
  std::string p = full(path);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return errno_error("stat '" + path + "'", errno);
  auto ns = [](const timespec& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1000000000u + static_cast<std::uint64_t>(t.tv_nsec);
  };
  using std::chrono::system_clock;
  const auto modified = system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return FileInfo{static_cast<std::uint64_t>(st.st_size), S_ISDIR(st.st_mode),
                  FileVersion{static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
                              ns(st.st_mtim), ns(st.st_ctim)},
                  modified};
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

Result<void> FilesystemDriver::move(const std::string& from, const std::string& to, bool durable) {
  auto r = with_parents(to, [&]() -> Result<void> {
    if (::rename(full(from).c_str(), full(to).c_str()) != 0)
      return errno_error("rename '" + from + "' to '" + to + "'", errno);
    return ok();
  });
  if (!r || !durable) return r;
  // The rename is durable only once the directory it lands in is synced.
  return sync_directory(full(parent_of(to)), parent_of(to));
}

Result<void> FilesystemDriver::remove(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(full(path), ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return make_error(Errc::io, "remove '" + path + "': " + ec.message());
  return ok();
}

Result<void> FilesystemDriver::touch(const std::string& path) {
  if (::utimensat(AT_FDCWD, full(path).c_str(), nullptr, 0) != 0) return errno_error("touch '" + path + "'", errno);
  return ok();
}

Result<void> FilesystemDriver::create_exclusive(const std::string& path, std::string_view content) {
  // Complete content under a private name first; link() then puts it in place only if
  // nothing is there, atomically.
  static std::atomic<unsigned> counter{0};
  const std::string dir = parent_of(path);
  const std::string temp = dir + "/." + path.substr(dir.size() + 1) + ".tmp-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter++) + "-x";
  if (auto r = with_parents(path, [&]() -> Result<void> { return write_file_atomic(full(temp), content, 0644, temp); });
      !r)
    return r;
  const int linked = ::link(full(temp).c_str(), full(path).c_str());
  const int err = errno;
  ::unlink(full(temp).c_str());
  if (linked != 0) {
    if (err == EEXIST) return make_error(Errc::already_exists, "'" + path + "' exists");
    return errno_error("link '" + path + "'", err);
  }
  return sync_directory(full(dir), dir);
}

Result<void> FilesystemDriver::remove_empty_dirs(const std::string& path) {
  const std::string p = full(path);
  DIR* dir = ::opendir(p.c_str());
  if (!dir) {
    if (errno == ENOENT || errno == ENOTDIR) return ok();
    return errno_error("list '" + path + "'", errno);
  }
  std::vector<std::string> subdirs;
  bool has_file = false;
  while (auto* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::lstat((p + "/" + std::string(n)).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) subdirs.emplace_back(n);
    else has_file = true;
  }
  ::closedir(dir);
  for (const auto& sub : subdirs)
    if (auto r = remove_empty_dirs(path + "/" + sub); !r) return r;
  if (has_file) return ok();
  // Fails when something arrived meanwhile: then the directory is kept, as it should be.
  if (::rmdir(p.c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
    return errno_error("remove '" + path + "'", errno);
  return ok();
}

}  // namespace rs::registry
