// registry:2's auth.htpasswd: users from an Apache htpasswd file (bcrypt entries only),
// checked against HTTP Basic credentials. An authenticated user may do everything.
#pragma once

#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rs::registry {

// The config's auth: {htpasswd: {realm, path}}.
struct HtpasswdOptions {
  std::string realm;
  std::string path;
};

// Bounds on what the file and the header may hold.
inline constexpr std::size_t kMaxHtpasswdBytes = 1024 * 1024;
inline constexpr std::size_t kMaxHtpasswdLine = 4096;
inline constexpr std::size_t kMaxUserName = 256;
inline constexpr std::size_t kMaxAuthorizationBytes = 4096;
// An unknown user's password is checked against a hash of the file's cost, or this one (cost
// 10, of no password anyone knows) when the file has no entries.
inline constexpr const char* kFallbackDummyHash = "$2y$10$gPuREVHEsfI7NcYnHV5j9OXgihRHRilOv8kPedGlKkqV2g0p85.kq";

struct HtpasswdEntry {
  std::string user;
  std::string hash;  // "$2y$10$..." (bcrypt: $2a$, $2b$ or $2y$)
};

// What a file holds: its bcrypt entries, and a "FILE:LINE: ..." problem for every line
// that is not one (its user, if any, can never log in).
struct HtpasswdSet {
  std::vector<HtpasswdEntry> entries;
  std::vector<std::string> problems;
};

// Parses an htpasswd file's text (`path` names it in problems): lines "user:hash", '#'
// comments and blank lines skipped. A user listed twice keeps the first entry (Apache's).
Result<HtpasswdSet> parse_htpasswd(std::string_view text, const std::string& path);

// Reads and parses a file of at most kMaxHtpasswdBytes.
Result<HtpasswdSet> load_htpasswd(const std::string& path);

// Whether `hash` is a bcrypt hash this module accepts ($2a$, $2b$, $2y$ and 60 characters).
bool is_bcrypt(std::string_view hash);

// `password` against a crypt(3) hash (libxcrypt's crypt_r), compared in constant time.
// Slow on purpose: a bcrypt at cost 10 takes tens of milliseconds.
bool crypt_verify(std::string_view password, const std::string& hash);

// A new bcrypt ("$2b$") hash of `password` at `cost` (4..31), salted from the OS's randomness.
Result<std::string> bcrypt_hash(std::string_view password, int cost);

// The credentials of "Authorization: Basic base64(user:pass)", strictly parsed; none for
// another scheme, a header longer than kMaxAuthorizationBytes, or bad base64.
struct BasicCredentials {
  std::string user;
  std::string password;
};
std::optional<BasicCredentials> parse_basic_authorization(std::string_view header);

// Strict base64 (RFC 4648, padded, no whitespace); none when `text` is not.
std::optional<std::string> base64_decode(std::string_view text);

struct HtpasswdCheckerOptions {
  std::chrono::seconds reload_interval{1};  // the file is stat()ed at most this often
  std::chrono::seconds cache_ttl{60};       // a successful verification is trusted this long after its last use
  std::size_t cache_entries = 4096;
  unsigned max_failures = 10;               // per client address, within failure_window
  std::chrono::seconds failure_window{60};
  std::size_t max_clients = 4096;           // addresses the failure table tracks
  std::function<std::chrono::steady_clock::time_point()> now;  // tests; default steady_clock
  std::function<void(const std::string&)> log_error;           // default: the registry log
};

// The users of an htpasswd file, re-read when it changes, and the verifications of the last
// minute. Thread-safe: the server's I/O and worker threads call it together.
class HtpasswdChecker {
 public:
  enum class Verdict { allowed, denied, throttled };
  struct Outcome {
    Verdict verdict = Verdict::denied;
    std::chrono::seconds retry_after{0};  // throttled: when the address may try again
  };

  HtpasswdChecker(std::string path, HtpasswdCheckerOptions options = {});

  // The first load: an error when the file cannot be read (its bad lines are logged).
  Result<void> load();

  // Checks a request's credentials from `remote`. A cache miss runs bcrypt here (tens of
  // ms): callers on an I/O thread ask would_block() first and move the call to a worker.
  Outcome check(const BasicCredentials& credentials, const std::string& remote);

  // Whether check() would run bcrypt: the file due for a stat, or no cached verification.
  bool would_block(const BasicCredentials& credentials);

  // Tests: the verifications that ran crypt.
  std::uint64_t crypt_calls() const;

 private:
  struct CacheEntry {
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  struct Failures {
    std::chrono::steady_clock::time_point window_start;
    unsigned count = 0;
  };
  std::chrono::steady_clock::time_point now() const;
  void maybe_reload(std::chrono::steady_clock::time_point now);  // with mu_ held
  std::optional<std::string> hash_of(std::string_view user) const;  // with mu_ held
  std::string dummy_hash_locked();  // what an unknown user's password is checked against
  bool cached(const std::string& key, std::chrono::steady_clock::time_point now);  // with mu_ held
  void remember(const std::string& key, std::chrono::steady_clock::time_point now);  // with mu_ held
  std::optional<std::chrono::seconds> throttled(const std::string& remote, std::chrono::steady_clock::time_point now);
  void failed(const std::string& remote, std::chrono::steady_clock::time_point now);

  const std::string path_;
  HtpasswdCheckerOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> users_;  // user -> hash, the last good file
  struct FileId {
    std::int64_t mtime_ns = -1, size = -1;
    std::uint64_t inode = 0, device = 0;
    bool operator==(const FileId&) const = default;
  } file_id_;
  std::chrono::steady_clock::time_point next_stat_{};
  bool reload_failed_logged_ = false;
  std::unordered_map<std::string, CacheEntry> cache_;  // SHA-256 key -> expiry
  std::list<std::string> cache_order_;                 // least recently used first
  std::unordered_map<std::string, Failures> failures_;
  std::uint64_t crypt_calls_ = 0;
};

}  // namespace rs::registry
