#include "agent/host/local_files.hpp"

#include "core/atomic_file.hpp"
#include "core/digest.hpp"
#include "core/fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rs::agent {
namespace {

Result<void> write_all(int fd, const std::string& content, const std::string& what) {
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write '" + what + "'", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

}  // namespace

std::string LocalFiles::real_path(const std::string& path) const {
  if (root_ == "/" || root_.empty()) return path;
  return root_ + path;
}

Result<std::optional<std::string>> LocalFiles::read(const std::string& path) {
  auto real = real_path(path);
  Fd fd(::open(real.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
    return errno_error("read '" + path + "'", errno);
  }
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read '" + path + "'", errno);
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > kMaxFileBytes)
      return make_error(Errc::invalid_argument, "read '" + path + "': larger than the limit");
  }
  return std::optional<std::string>(std::move(content));
}

Result<void> LocalFiles::write(const std::string& path, const std::string& content, unsigned mode) {
  const std::string real = real_path(path);
  // Missing parents as std::filesystem::create_directories makes them: 0777 less the umask.
  if (auto slash = real.rfind('/'); slash != std::string::npos && slash > 0)
    if (auto r = make_dirs(real.substr(0, slash), 0777); !r) return r.error().with_context("write '" + path + "'");
  return write_file_atomic(real, content, mode, path);
}

Result<void> LocalFiles::overwrite(const std::string& path, const std::string& content) {
  Fd fd(::open(real_path(path).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) {
    if (errno == EROFS || errno == EACCES || errno == EPERM)
      return make_error(Errc::permission_denied, "write '" + path + "': read-only here (" + std::strerror(errno) + ")");
    return errno_error("write '" + path + "'", errno);
  }
  auto r = write_all(fd.get(), content, path);
  int err = errno;
  if (!r && (err == EROFS || err == EACCES || err == EPERM))
    return make_error(Errc::permission_denied, "write '" + path + "': read-only here (" + std::strerror(err) + ")");
  return r;
}

Result<void> LocalFiles::remove(const std::string& path) {
  if (::unlink(real_path(path).c_str()) != 0 && errno != ENOENT) return errno_error("remove '" + path + "'", errno);
  return ok();
}

Result<std::vector<std::string>> LocalFiles::list(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(real_path(dir), ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) return names;
    return make_error(Errc::io, "list '" + dir + "': " + ec.message());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return make_error(Errc::io, "list '" + dir + "': " + ec.message());
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::optional<std::string>> LocalFiles::sha256(const std::string& path) {
  auto content = read(path);
  if (!content) return content.error();
  if (!*content) return std::optional<std::string>();
  return std::optional<std::string>(digest_of(**content).hex);
}

}  // namespace rs::agent
