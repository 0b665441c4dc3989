#include "registry/htpasswd_command.hpp"

#include "core/args.hpp"
#include "core/atomic_file.hpp"
#include "registry/htpasswd.hpp"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace rs::registry {
namespace {

constexpr const char* kHelp =
    "usage: registry-setup htpasswd [--cost N] FILE USER\n"
    "\n"
    "Adds USER to the htpasswd FILE, or changes their password, with a bcrypt hash (as\n"
    "'htpasswd -B' does); the other lines stay as they are. The password is read from\n"
    "stdin: one line, or asked for twice with echo off when stdin is a terminal (never\n"
    "from the command line). FILE is replaced atomically; a new FILE gets mode 0600.\n"
    "The registry reads it as auth.htpasswd.path and notices changes within a second.\n"
    "\n"
    "options:\n"
    "  --cost N    bcrypt cost, 4 to 31 (default 10: tens of ms per check)\n"
    "  -h, --help  this help\n"
    "\n"
    "exit codes: 0 written, 1 usage, 2 invalid user, password or FILE, 3 cannot write FILE\n";

// Passwords beyond this are a mistake (bcrypt reads only the first 72 bytes).
constexpr std::size_t kMaxPassword = 1024;

// One line of stdin without its newline; none at EOF before any byte or past the bound.
std::optional<std::string> read_line(std::FILE* in) {
  std::string line;
  int c;
  while ((c = std::fgetc(in)) != EOF && c != '\n') {
    if (line.size() >= kMaxPassword) return std::nullopt;
    line.push_back(static_cast<char>(c));
  }
  if (c == EOF && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Asks on the terminal with echo off.
std::optional<std::string> prompt(const char* question) {
  std::fputs(question, stderr);
  std::fflush(stderr);
  termios old{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  auto line = read_line(stdin);
  if (tty) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  std::fputs("\n", stderr);
  return line;
}

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

}  // namespace

int htpasswd_command(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, {{"-h", "--help"}, {"--cost"}});
  if (!args) {
    std::fprintf(stderr, "registry-setup htpasswd: %s\n%s", args.error().message.c_str(), kHelp);
    return 1;
  }
  if (args->has("-h") || args->has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (args->positionals.size() != 2) {
    std::fprintf(stderr, "registry-setup htpasswd: expected FILE and USER\n%s", kHelp);
    return 1;
  }
  int cost = 10;
  if (auto c = args->get("--cost")) {
    auto n = parse_positive_int("--cost", *c);
    if (!n || *n < 4 || *n > 31) {
      std::fprintf(stderr, "registry-setup htpasswd: --cost must be a number from 4 to 31\n");
      return 1;
    }
    cost = *n;
  }
  const std::string& file = args->positionals[0];
  const std::string& user = args->positionals[1];
  if (user.empty() || user.size() > kMaxUserName ||
      std::any_of(user.begin(), user.end(), [](char c) { return c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    std::fprintf(stderr, "registry-setup htpasswd: user '%s': 1 to %zu characters, no ':' and no control characters\n",
                 user.c_str(), kMaxUserName);
    return 2;
  }

  // The file as it is: its lines stay, and so does its mode.
  std::string text;
  unsigned mode = 0600;
  struct stat st{};
  if (::stat(file.c_str(), &st) == 0) {
    auto existing = load_htpasswd(file);
    if (!existing) {
      std::fprintf(stderr, "registry-setup htpasswd: %s\n", existing.error().message.c_str());
      return 2;
    }
    // (Read again as text: problems on other lines are theirs, and they are kept.)
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) {
      std::fprintf(stderr, "registry-setup htpasswd: '%s': %s\n", file.c_str(), std::strerror(errno));
      return 2;
    }
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= kMaxHtpasswdBytes) text.append(buf, n);
    std::fclose(f);
    mode = st.st_mode & 07777;
  } else if (errno != ENOENT) {
    std::fprintf(stderr, "registry-setup htpasswd: '%s': %s\n", file.c_str(), std::strerror(errno));
    return 2;
  }

  std::optional<std::string> password;
  if (::isatty(STDIN_FILENO)) {
    password = prompt("New password: ");
    auto again = prompt("Re-type new password: ");
    if (password && (!again || *again != *password)) {
      std::fprintf(stderr, "registry-setup htpasswd: the passwords differ\n");
      wipe(*password);
      if (again) wipe(*again);
      return 2;
    }
    if (again) wipe(*again);
  } else {
    password = read_line(stdin);
  }
  if (!password || password->empty()) {
    std::fprintf(stderr, "registry-setup htpasswd: no password on stdin (one line, at most %zu bytes, not empty)\n",
                 kMaxPassword);
    return 2;
  }
  auto hash = bcrypt_hash(*password, cost);
  wipe(*password);
  if (!hash) {
    std::fprintf(stderr, "registry-setup htpasswd: %s\n", hash.error().message.c_str());
    return 3;
  }

  // The user's first line replaced, or a new line at the end.
  const std::string entry = user + ":" + *hash;
  std::string out;
  bool replaced = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    const bool last = end == std::string::npos;
    if (last) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (!replaced && line.substr(0, user.size() + 1) == user + ":") {
      out += entry;
      replaced = true;
    } else {
      out.append(line);
    }
    if (!last) out += '\n';
    pos = end + 1;
  }
  if (!replaced) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += entry;
  }
  if (out.back() != '\n') out += '\n';
  if (auto r = write_file_atomic(file, out, mode); !r) {
    std::fprintf(stderr, "registry-setup htpasswd: %s\n", r.error().message.c_str());
    return 3;
  }
  std::fprintf(stderr, "%s password for user '%s' in '%s'\n", replaced ? "Updated" : "Added", user.c_str(),
               file.c_str());
  return 0;
}

}  // namespace rs::registry
