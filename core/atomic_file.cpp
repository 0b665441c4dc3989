#include "core/atomic_file.hpp"

#include "core/fd.hpp"
#include "core/random.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

namespace rs {
namespace {

// Exclusive creation makes a clash an error, never a shared file; a few tries get past one.
constexpr int kTempAttempts = 8;
constexpr std::string_view kTempMarker = ".tmp-";

std::atomic<void (*)(const std::string&)> sync_observer{nullptr};

std::string temp_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + name + std::string(kTempMarker) + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         random_hex(4);
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

int write_all(int fd, std::string_view content) {
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// Content, mode and data on disk in the open temp file; 0 or the errno of the failed step.
int fill(int fd, std::string_view content, unsigned mode) {
  if (int err = write_all(fd, content)) return err;
  if (::fchmod(fd, mode) != 0) return errno;
  if (::fsync(fd) != 0) return errno;
  return 0;
}

}  // namespace

Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode,
                               const std::string& shown_as) {
  const std::string& shown = shown_as.empty() ? path : shown_as;
  std::string tmp;
  Fd fd;
  for (int attempt = 0; attempt < kTempAttempts && !fd; ++attempt) {
    tmp = temp_path_for(path);
    fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777));
    if (!fd && errno != EEXIST) return errno_error("write '" + shown + "'", errno);
  }
  if (!fd) return errno_error("write '" + shown + "'", EEXIST);
  if (int err = fill(fd.get(), content, mode)) {
    ::unlink(tmp.c_str());
    return errno_error("write '" + shown + "'", err);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return errno_error("rename into '" + shown + "'", err);
  }
  // The rename is durable only once the directory is synced.
  return sync_directory(directory_of(path), directory_of(shown));
}

bool is_atomic_temp_name(std::string_view name) {
  return name.size() > 1 && name[0] == '.' && name.find(kTempMarker) != std::string_view::npos;
}

Result<void> sync_directory(const std::string& dir, const std::string& shown_as) {
  const std::string& shown = shown_as.empty() ? dir : shown_as;
  if (auto* observer = sync_observer.load()) observer(dir);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // A directory this process may write but not read cannot be opened to sync (as before).
  if (!fd && errno == EACCES) return ok();
  if (!fd) return errno_error("sync directory '" + shown + "'", errno);
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return errno_error("sync directory '" + shown + "'", errno);
  return ok();
}

void set_directory_sync_observer(void (*observer)(const std::string& dir)) { sync_observer.store(observer); }

Result<void> make_dirs_durable(const std::string& base, const std::string& relative, unsigned mode) {
  std::vector<std::string> parts;
  for (std::size_t start = 0; start <= relative.size();) {
    std::size_t end = relative.find('/', start);
    if (end == std::string::npos) end = relative.size();
    if (end > start && relative.compare(start, end - start, ".") != 0)
      parts.push_back(relative.substr(start, end - start));
    start = end + 1;
  }
  // "/a/b" for the first `n` parts: how messages name a directory.
  auto shown = [&parts](std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += "/" + parts[i];
    return out.empty() ? std::string("/") : out;
  };
  auto full = [&](std::size_t n) { return n == 0 ? base : base + shown(n); };
  // The deepest directory that exists already (usually all of them: nothing to do).
  std::size_t existing = parts.size();
  for (;; --existing) {
    struct stat st {};
    if (::stat(full(existing).c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return errno_error("create directory '" + shown(existing) + "'", ENOTDIR);
      break;
    }
    if (errno != ENOENT) return errno_error("create directory '" + shown(existing) + "'", errno);
    if (existing == 0) return errno_error("create directory '" + shown(parts.size()) + "'", ENOENT);
  }
  if (existing == parts.size()) return ok();
  // Each directory that receives a new entry is synced, once all of them are made.
  std::vector<std::size_t> parents;
  for (std::size_t n = existing + 1; n <= parts.size(); ++n) {
    const std::string dir = full(n);
    if (::mkdir(dir.c_str(), mode) != 0) {
      const int err = errno;
      // (Made by someone else meanwhile: still synced here, this caller may be first to rely on it.)
      struct stat st {};
      if (err != EEXIST) return errno_error("create directory '" + shown(n) + "'", err);
      if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return errno_error("create directory '" + shown(n) + "'", ENOTDIR);
    }
    parents.push_back(n - 1);
  }
  for (std::size_t n : parents)
    if (auto r = sync_directory(full(n), shown(n)); !r) return r;
  return ok();
}

Result<void> make_dirs(const std::string& path, unsigned mode) {
  std::string current;
  std::size_t start = 0;
  if (!path.empty() && path[0] == '/') {
    current = "/";
    start = 1;
  }
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (!current.empty() && current.back() != '/') current += '/';
    current += part;
    if (::mkdir(current.c_str(), mode) == 0) continue;
    if (errno != EEXIST) return errno_error("mkdir '" + current + "'", errno);
    struct stat st {};
    if (::stat(current.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return errno_error("mkdir '" + current + "'", ENOTDIR);
  }
  return ok();
}

}  // namespace rs
