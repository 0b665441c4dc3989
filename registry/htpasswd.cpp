#include "registry/htpasswd.hpp"

#include "core/log.hpp"

#include <crypt.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace rs::registry {
namespace {

using Clock = std::chrono::steady_clock;

bool bcrypt_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}

// The file's identity: a change of any part means it was rewritten.
struct Stat {
  std::int64_t mtime_ns, size;
  std::uint64_t inode, device;
};

std::optional<Stat> stat_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return Stat{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
              static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
              static_cast<std::uint64_t>(st.st_dev)};
}

// The cache's key: whoever knows it knew the password (and a new hash makes a new key).
std::string cache_key(std::string_view user, std::string_view password, std::string_view hash) {
  std::string input;
  input.reserve(user.size() + password.size() + hash.size() + 2);
  input.append(user).push_back('\0');
  input.append(password).push_back('\0');
  input.append(hash);
  // Fetched once: OpenSSL 3's implicit fetch behind EVP_sha256() takes a lock on every call,
  // and this runs on every request with Basic credentials, on every I/O thread.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), md, &len, sha256 ? sha256 : EVP_sha256(), nullptr);
  OPENSSL_cleanse(input.data(), input.size());
  return std::string(reinterpret_cast<const char*>(md), len);
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool is_bcrypt(std::string_view hash) {
  // "$2b$10$" + 22 characters of salt + 31 of hash.
  if (hash.size() != 60) return false;
  if (hash.substr(0, 2) != "$2" || (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$')
    return false;
  if (hash[4] < '0' || hash[4] > '3' || hash[5] < '0' || hash[5] > '9' || hash[6] != '$') return false;
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(hash.begin() + 7, hash.end(), bcrypt_char);
}

Result<HtpasswdSet> parse_htpasswd(std::string_view text, const std::string& path) {
  if (text.size() > kMaxHtpasswdBytes)
    return make_error(Errc::invalid_argument,
                      "htpasswd '" + path + "': larger than " + std::to_string(kMaxHtpasswdBytes) + " bytes");
  HtpasswdSet set;
  std::map<std::string, std::size_t, std::less<>> line_of;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    if (line.size() > kMaxHtpasswdLine) {
      set.problems.push_back(where + "line longer than " + std::to_string(kMaxHtpasswdLine) + " bytes");
      continue;
    }
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      set.problems.push_back(where + "expected USER:HASH");
      continue;
    }
    std::string_view user = line.substr(0, colon), hash = line.substr(colon + 1);
    if (user.empty()) {
      set.problems.push_back(where + "empty user name");
      continue;
    }
    if (user.size() > kMaxUserName) {
      set.problems.push_back(where + "user name longer than " + std::to_string(kMaxUserName) + " characters");
      continue;
    }
    const std::string shown = "user '" + std::string(user) + "': ";
    if (!is_bcrypt(hash)) {
      set.problems.push_back(where + shown +
                             "not a bcrypt hash ($2y$, $2b$, $2a$): other kinds ({SHA}, $apr1$, crypt, plain) are "
                             "refused and the user cannot log in; make it with 'htpasswd -B' or "
                             "'registry-setup htpasswd'");
      continue;
    }
    if (auto seen = line_of.find(user); seen != line_of.end()) {
      set.problems.push_back(where + shown + "listed again; line " + std::to_string(seen->second) + " counts");
      continue;
    }
    line_of.emplace(std::string(user), line_no);
    set.entries.push_back({std::string(user), std::string(hash)});
  }
  return set;
}

Result<HtpasswdSet> load_htpasswd(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("htpasswd '" + path + "'", errno);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::invalid_argument, "htpasswd '" + path + "': not a regular file");
  }
  // One byte more than the bound tells a file that grew past it.
  std::string text(kMaxHtpasswdBytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return errno_error("htpasswd '" + path + "'", err);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return parse_htpasswd(text, path);
}

bool crypt_verify(std::string_view password, const std::string& hash) {
  // (A NUL would end the password early for crypt.)
  if (password.find('\0') != std::string_view::npos) return false;
  const std::string pw(password);
  // crypt_data is ~32 KiB: on the heap, never on a (coroutine) stack.
  auto data = std::make_unique<crypt_data>();
  const char* out = ::crypt_r(pw.c_str(), hash.c_str(), data.get());
  if (!out || out[0] == '*') return false;
  const std::size_t n = std::strlen(out);
  const bool same = n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return same;
}

Result<std::string> bcrypt_hash(std::string_view password, int cost) {
  if (cost < 4 || cost > 31) return make_error(Errc::invalid_argument, "bcrypt cost must be from 4 to 31");
  if (password.find('\0') != std::string_view::npos)
    return make_error(Errc::invalid_argument, "the password holds a NUL byte");
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // No random bytes given: libxcrypt takes them from the OS (getrandom).
  if (!::crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt, sizeof salt))
    return errno_error("bcrypt salt", errno);
  const std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  const char* out = ::crypt_r(pw.c_str(), salt, data.get());
  if (!out || out[0] == '*') return errno_error("bcrypt", errno);
  std::string hash(out);
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return hash;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      // A character after a '=' or a '=' elsewhere: not base64.
      if (pad > 0) return std::nullopt;
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned bits = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                          (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    // The bits a padded group leaves unused must be zero (one encoding per value).
    if ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0)) return std::nullopt;
    out.push_back(static_cast<char>((bits >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header) {
  if (header.size() > kMaxAuthorizationBytes || header.size() < 6) return std::nullopt;
  static constexpr std::string_view kScheme = "basic";
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(header[i]))) != kScheme[i]) return std::nullopt;
  std::size_t pos = kScheme.size();
  if (header[pos] != ' ') return std::nullopt;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  std::string_view token = header.substr(pos);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  auto decoded = base64_decode(token);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0 || colon > kMaxUserName) return std::nullopt;
  BasicCredentials c{decoded->substr(0, colon), decoded->substr(colon + 1)};
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return c;
}

// ---- the checker ----

std::string HtpasswdChecker::dummy_hash_locked() {
  // The first entry's hash stands for the file's cost: verifying against it with a password
  // that is not its user's takes as long and fails (the result is thrown away anyway).
  return users_.empty() ? std::string() : users_.begin()->second;
}

HtpasswdChecker::HtpasswdChecker(std::string path, HtpasswdCheckerOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
  if (!options_.log_error) {
    options_.log_error = [](const std::string& m) { rs::log::get("registry")->error("{}", m); };
  }
}

Clock::time_point HtpasswdChecker::now() const { return options_.now ? options_.now() : Clock::now(); }

Result<void> HtpasswdChecker::load() {
  const auto id = stat_file(path_);
  auto set = load_htpasswd(path_);
  if (!set) return set.error();
  for (const auto& p : set->problems) options_.log_error(p);
  std::lock_guard lock(mu_);
  users_.clear();
  for (auto& e : set->entries) users_.emplace(std::move(e.user), std::move(e.hash));
  if (id) file_id_ = {id->mtime_ns, id->size, id->inode, id->device};
  next_stat_ = now() + options_.reload_interval;
  return ok();
}

void HtpasswdChecker::maybe_reload(Clock::time_point now) {
  if (now < next_stat_) return;
  next_stat_ = now + options_.reload_interval;
  const auto st = stat_file(path_);
  const FileId id = st ? FileId{st->mtime_ns, st->size, st->inode, st->device} : FileId{};
  if (id == file_id_) return;
  // Read under the lock: a rewrite of the file is rare, and the file small (at most 1 MiB).
  auto set = load_htpasswd(path_);
  if (!set) {
    // The last good users stay; said once until the file is good again.
    if (!reload_failed_logged_)
      options_.log_error(set.error().message + " (the users read before stay valid until it can be read)");
    reload_failed_logged_ = true;
    return;
  }
  reload_failed_logged_ = false;
  for (const auto& p : set->problems) options_.log_error(p);
  file_id_ = id;
  users_.clear();
  for (auto& e : set->entries) users_.emplace(std::move(e.user), std::move(e.hash));
}

std::optional<std::string> HtpasswdChecker::hash_of(std::string_view user) const {
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

bool HtpasswdChecker::cached(const std::string& key, Clock::time_point now) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return false;
  if (now >= it->second.expires) {
    cache_order_.erase(it->second.order);
    cache_.erase(it);
    return false;
  }
  // Each use extends it: a client in steady use never expires all at once, which would send
  // every request it has in flight to bcrypt together. Revocation does not wait for this:
  // the key holds the user's hash, so a changed or removed entry misses at once.
  it->second.expires = now + options_.cache_ttl;
  cache_order_.splice(cache_order_.end(), cache_order_, it->second.order);
  return true;
}

void HtpasswdChecker::remember(const std::string& key, Clock::time_point now) {
  if (options_.cache_entries == 0) return;
  if (auto it = cache_.find(key); it != cache_.end()) {
    it->second.expires = now + options_.cache_ttl;
    cache_order_.splice(cache_order_.end(), cache_order_, it->second.order);
    return;
  }
  while (cache_.size() >= options_.cache_entries) {
    cache_.erase(cache_order_.front());
    cache_order_.pop_front();
  }
  cache_order_.push_back(key);
  cache_.emplace(key, CacheEntry{now + options_.cache_ttl, std::prev(cache_order_.end())});
}

std::optional<std::chrono::seconds> HtpasswdChecker::throttled(const std::string& remote, Clock::time_point now) {
  auto it = failures_.find(remote);
  if (it == failures_.end()) return std::nullopt;
  const auto ends = it->second.window_start + options_.failure_window;
  if (now >= ends) {
    failures_.erase(it);
    return std::nullopt;
  }
  if (it->second.count < options_.max_failures) return std::nullopt;
  // Rounded up: a client that waits that long is let in.
  return std::chrono::ceil<std::chrono::seconds>(ends - now);
}

void HtpasswdChecker::failed(const std::string& remote, Clock::time_point now) {
  auto it = failures_.find(remote);
  if (it != failures_.end() && now < it->second.window_start + options_.failure_window) {
    ++it->second.count;
    return;
  }
  if (it != failures_.end()) {
    it->second = {now, 1};
    return;
  }
  if (failures_.size() >= options_.max_clients) {
    // Full: the windows that ended go first, else the oldest.
    std::erase_if(failures_, [&](const auto& kv) { return now >= kv.second.window_start + options_.failure_window; });
    if (failures_.size() >= options_.max_clients) {
      auto oldest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
        return a.second.window_start < b.second.window_start;
      });
      failures_.erase(oldest);
    }
  }
  failures_.emplace(remote, Failures{now, 1});
}

HtpasswdChecker::Outcome HtpasswdChecker::check(const BasicCredentials& credentials, const std::string& remote) {
  const auto t = now();
  std::string hash, key;
  {
    std::unique_lock lock(mu_);
    if (auto wait = throttled(remote, t)) return {Verdict::throttled, *wait};
    maybe_reload(t);
    auto found = hash_of(credentials.user);
    if (!found) {
      // An unknown user costs what a known one does: the time of the answer must not tell
      // which users exist. The bcrypt is made against a hash of the file's own cost.
      const std::string dummy = dummy_hash_locked();
      lock.unlock();
      (void)crypt_verify(credentials.password, dummy.empty() ? kFallbackDummyHash : dummy);
      lock.lock();
      ++crypt_calls_;
      failed(remote, now());
      return {Verdict::denied, {}};
    }
    hash = std::move(*found);
    key = cache_key(credentials.user, credentials.password, hash);
    if (cached(key, t)) return {Verdict::allowed, {}};
  }
  // bcrypt, outside the lock: the other threads' requests go on meanwhile.
  const bool good = crypt_verify(credentials.password, hash);
  std::lock_guard lock(mu_);
  ++crypt_calls_;
  if (good) {
    remember(key, now());
    return {Verdict::allowed, {}};
  }
  // Failures are never cached: a password added to the file works on the next try.
  failed(remote, now());
  return {Verdict::denied, {}};
}

bool HtpasswdChecker::would_block(const BasicCredentials& credentials) {
  const auto t = now();
  std::lock_guard lock(mu_);
  auto found = hash_of(credentials.user);
  if (!found) return true;  // the dummy bcrypt
  auto it = cache_.find(cache_key(credentials.user, credentials.password, *found));
  return it == cache_.end() || t >= it->second.expires;
}

std::uint64_t HtpasswdChecker::crypt_calls() const {
  std::lock_guard lock(mu_);
  return crypt_calls_;
}

}  // namespace rs::registry
