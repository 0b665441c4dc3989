#include "core/result.hpp"

#include <cstring>

namespace rs {

const char* to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::not_found: return "not found";
    case Errc::already_exists: return "already exists";
    case Errc::permission_denied: return "permission denied";
    case Errc::io: return "I/O error";
    case Errc::unsupported: return "unsupported";
    case Errc::conflict: return "conflict";
    case Errc::timeout: return "timeout";
    case Errc::unavailable: return "unavailable";
    case Errc::exhausted: return "resource exhausted";
    case Errc::internal: return "internal error";
  }
  return "unknown error";
}

Error errno_error(const std::string& what, int err) {
  Errc code = Errc::io;
  if (err == ENOENT || err == ENOTDIR) code = Errc::not_found;
  else if (err == EACCES || err == EPERM || err == EROFS) code = Errc::permission_denied;
  else if (err == EEXIST) code = Errc::already_exists;
  else if (err == EMFILE || err == ENFILE || err == ENOMEM) code = Errc::exhausted;
  return Error{code, what + ": " + std::strerror(err)};
}

}  // namespace rs
