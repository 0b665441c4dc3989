#include "core/atomic_file.hpp"

#include "core/fd.hpp"
#include "core/random.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace rs {
namespace {

// Exclusive creation makes a clash an error, never a shared file; a few tries get past one.
constexpr int kTempAttempts = 8;

std::string temp_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
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
  // The rename is durable only once the directory is synced. Filesystems without directory
  // sync (EINVAL) have nothing more to make durable.
  Fd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir && ::fsync(dir.get()) != 0 && errno != EINVAL)
    return errno_error("sync the directory of '" + shown + "'", errno);
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
