#include "agent/host/command_files.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace rs::agent {
namespace {

constexpr int kAbsent = 3;

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

Result<CommandResult> CommandFiles::sh(const std::string& what, const std::string& script,
                                       std::vector<std::string> args, const std::string& input) {
  std::vector<std::string> argv = {"sh", "-c", script, "sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = commands_.run(argv, input, std::chrono::minutes(5));
  if (!r) return r.error().with_context(what);
  return r;
}

Result<std::optional<std::string>> CommandFiles::read(const std::string& path) {
  auto r = sh("read '" + path + "'", "[ -e \"$1\" ] || exit 3; exec cat -- \"$1\"", {path});
  if (!r) return r.error();
  if (r->exit_code == kAbsent) return std::optional<std::string>();
  if (r->exit_code != 0) return make_error(Errc::io, "read '" + path + "': " + first_line(r->err));
  if (r->out.size() > kMaxFileBytes) return make_error(Errc::invalid_argument, "read '" + path + "': larger than the limit");
  return std::optional<std::string>(std::move(r->out));
}

Result<void> CommandFiles::write(const std::string& path, const std::string& content, unsigned mode) {
  char octal[8];
  std::snprintf(octal, sizeof octal, "%o", mode);
  // Temp file in the same directory, fsync, rename: atomic on the remote side too.
  const char* script =
      "set -e; d=$(dirname -- \"$1\"); mkdir -p -- \"$d\"; t=$(mktemp \"$d/.rs-XXXXXX\");"
      " trap 'rm -f -- \"$t\"' EXIT; cat > \"$t\"; chmod \"$2\" \"$t\"; sync -- \"$t\" 2>/dev/null || sync;"
      " mv -f -- \"$t\" \"$1\"; trap - EXIT";
  auto r = sh("write '" + path + "'", script, {path, octal}, content);
  if (!r) return r.error();
  if (r->exit_code != 0) return make_error(Errc::io, "write '" + path + "': " + first_line(r->err));
  return ok();
}

Result<void> CommandFiles::overwrite(const std::string& path, const std::string& content) {
  auto r = sh("write '" + path + "'", "[ -e \"$1\" ] || exit 3; cat > \"$1\"", {path}, content);
  if (!r) return r.error();
  if (r->exit_code == kAbsent) return make_error(Errc::not_found, "write '" + path + "': does not exist");
  if (r->exit_code != 0) {
    bool ro = r->err.find("Read-only") != std::string::npos || r->err.find("ermission denied") != std::string::npos;
    return make_error(ro ? Errc::permission_denied : Errc::io,
                      "write '" + path + "': " + (ro ? "read-only here (" : "(") + first_line(r->err) + ")");
  }
  return ok();
}

Result<void> CommandFiles::remove(const std::string& path) {
  auto r = sh("remove '" + path + "'", "exec rm -f -- \"$1\"", {path});
  if (!r) return r.error();
  if (r->exit_code != 0) return make_error(Errc::io, "remove '" + path + "': " + first_line(r->err));
  return ok();
}

Result<std::vector<std::string>> CommandFiles::list(const std::string& dir) {
  auto r = sh("list '" + dir + "'", "[ -d \"$1\" ] || exit 0; exec ls -1A -- \"$1\"", {dir});
  if (!r) return r.error();
  if (r->exit_code != 0) return make_error(Errc::io, "list '" + dir + "': " + first_line(r->err));
  std::vector<std::string> names;
  std::istringstream in(r->out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) names.push_back(line);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::optional<std::string>> CommandFiles::sha256(const std::string& path) {
  auto r = sh("sha256 '" + path + "'", "[ -e \"$1\" ] || exit 3; exec sha256sum -- \"$1\"", {path});
  if (!r) return r.error();
  if (r->exit_code == kAbsent) return std::optional<std::string>();
  if (r->exit_code != 0 || r->out.size() < 64) return make_error(Errc::io, "sha256 '" + path + "': " + first_line(r->err));
  return std::optional<std::string>(r->out.substr(0, 64));
}

}  // namespace rs::agent
