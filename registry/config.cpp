#include "registry/config.hpp"

#include "core/yaml_tree.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <set>
#include <vector>

namespace rs::registry {
namespace {

struct Problems {
  std::string file;
  std::vector<std::string> list;
  void add(const YAML::Node& node, const std::string& key, const std::string& what) {
    list.push_back(file + ":" + std::to_string(node.Mark().line + 1) + ": key '" + key + "': " + what);
  }
};

template <typename T>
bool read_scalar(const YAML::Node& node, const std::string& key, T& out, Problems& p, const char* expected) {
  if (!node.IsScalar()) {
    p.add(node, key, std::string("expected ") + expected);
    return false;
  }
  try {
    out = node.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    p.add(node, key, std::string("expected ") + expected + ", got '" + node.Scalar() + "'");
    return false;
  }
}

// A whole number from `min` to `max` (a size or a count) into `out`.
template <typename T>
void read_between(const YAML::Node& node, const std::string& key, long long min, long long max, T& out, Problems& p,
                  const char* expected) {
  long long v = 0;
  if (!read_scalar(node, key, v, p, expected)) return;
  if (v < min) p.add(node, key, min == 1 ? std::string("must be positive") : "must be at least " + std::to_string(min));
  else if (v > max) p.add(node, key, "must be at most " + std::to_string(max));
  else out = static_cast<T>(v);
}

// Timeouts beyond a day are mistakes, and larger ones overflowed in the timers.
constexpr long long kMaxSeconds = 86400;

void read_seconds(const YAML::Node& node, const std::string& key, std::chrono::seconds& out, Problems& p) {
  long long v = 0;
  if (!read_scalar(node, key, v, p, "a number of seconds")) return;
  if (v <= 0) p.add(node, key, "must be positive");
  else if (v > kMaxSeconds) p.add(node, key, "must be at most " + std::to_string(kMaxSeconds) + " (a day)");
  else out = std::chrono::seconds(v);
}

// The file's text, at most kMaxConfigBytes; an error names what is wrong with the path.
Result<std::string> read_config_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return errno_error("config '" + path + "'", errno);
  if (!S_ISREG(st.st_mode)) return make_error(Errc::invalid_argument, "config '" + path + "': not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes)
    return make_error(Errc::invalid_argument, "config '" + path + "': larger than " + std::to_string(kMaxConfigBytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::invalid_argument, "config '" + path + "': cannot be read");
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes)
    return make_error(Errc::invalid_argument, "config '" + path + "': larger than " + std::to_string(kMaxConfigBytes) + " bytes");
  return text;
}

bool is_ip_literal(const std::string& host) {
  in6_addr buf{};
  return ::inet_pton(AF_INET, host.c_str(), &buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

// A listen host as written: an IP literal, or a host name (resolved by resolve_listen());
// what looks like an IPv4 address must be one.
Result<std::string> listen_host(const std::string& host) {
  if (is_ip_literal(host)) return host;
  if (host.find_first_not_of("0123456789.") == std::string::npos || host.find(':') != std::string::npos)
    return make_error(Errc::invalid_argument, "'" + host + "' is not an IP address");
  if (host.size() > 253 ||
      host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != std::string::npos)
    return make_error(Errc::invalid_argument, "'" + host + "' is not a host name or IP address");
  return host;
}

void check_keys(const YAML::Node& map, const std::string& prefix, const std::set<std::string>& allowed, Problems& p) {
  for (const auto& kv : map) {
    // Keys are plain values: check_yaml_tree refused the others before.
    auto key = kv.first.Scalar();
    if (!allowed.count(key)) p.add(kv.first, prefix + key, "unknown key");
  }
}

// registry:2's durations ("168h", "30m", "1h30m", "90s"): whole numbers with the units h, m
// and s, between kMinPurgeDuration and kMaxPurgeDuration.
void read_duration(const YAML::Node& node, const std::string& key, std::chrono::seconds& out, Problems& p) {
  std::string text;
  if (!read_scalar(node, key, text, p, "a duration such as 168h, 30m or 1h30m")) return;
  const std::string expected = "expected a duration such as 168h, 30m or 1h30m (units h, m, s), got '" +
                               text.substr(0, 40) + "'";
  const long long past_bound = static_cast<long long>(kMaxPurgeDuration.count()) + 1;
  long long total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t digits = pos;
    long long n = 0;
    // (Past the bound by far already: the digits stop counting before they overflow.)
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos)
      n = std::min(n * 10 + (text[pos] - '0'), past_bound);
    if (pos == digits || pos == text.size()) return p.add(node, key, expected);
    const char unit = text[pos++];
    const long long scale = unit == 'h' ? 3600 : unit == 'm' ? 60 : unit == 's' ? 1 : 0;
    if (scale == 0) return p.add(node, key, expected);
    total = std::min(total + n * scale, past_bound);
  }
  if (text.empty()) return p.add(node, key, expected);
  if (total < kMinPurgeDuration.count()) return p.add(node, key, "must be at least 1m");
  if (total > kMaxPurgeDuration.count())
    return p.add(node, key, "must be at most " + std::to_string(kMaxPurgeDuration.count() / 3600) + "h");
  out = std::chrono::seconds(total);
}

// storage: registry:2's section; of it, maintenance.uploadpurging.
void read_storage(const YAML::Node& n, Config& config, Problems& p) {
  if (!n.IsMap()) return p.add(n, "storage", "expected a mapping");
  check_keys(n, "storage.", {"maintenance"}, p);
  auto maintenance = n["maintenance"];
  if (!maintenance) return;
  if (!maintenance.IsMap()) return p.add(maintenance, "storage.maintenance", "expected a mapping");
  check_keys(maintenance, "storage.maintenance.", {"uploadpurging"}, p);
  auto purging = maintenance["uploadpurging"];
  if (!purging) return;
  const std::string prefix = "storage.maintenance.uploadpurging";
  if (!purging.IsMap()) return p.add(purging, prefix, "expected a mapping");
  check_keys(purging, prefix + ".", {"enabled", "age", "interval", "dryrun"}, p);
  UploadPurgingOptions& o = config.purging;
  if (auto v = purging["enabled"]) read_scalar(v, prefix + ".enabled", o.enabled, p, "true or false");
  if (auto v = purging["age"]) read_duration(v, prefix + ".age", o.age, p);
  if (auto v = purging["interval"]) read_duration(v, prefix + ".interval", o.interval, p);
  if (auto v = purging["dryrun"]) read_scalar(v, prefix + ".dryrun", o.dry_run, p, "true or false");
}

// auth: registry:2's section; of its methods, htpasswd. One we cannot honour is an error:
// serving open what was meant to be closed would be worse than not starting.
void read_auth(const YAML::Node& n, Config& config, Problems& p) {
  if (!n.IsMap() || n.size() == 0)
    return p.add(n, "auth", "expected a mapping with htpasswd: {realm, path} (remove auth to serve without it)");
  for (const auto& kv : n) {
    const auto key = kv.first.Scalar();
    if (key != "htpasswd")
      p.add(kv.first, "auth." + key,
            key == "token" || key == "silly"
                ? "not supported: only auth.htpasswd is (the registry refuses to start rather than serve open)"
                : "unknown key: only auth.htpasswd is supported (the registry refuses to start rather than serve open)");
  }
  auto h = n["htpasswd"];
  if (!h) return;
  if (!h.IsMap()) return p.add(h, "auth.htpasswd", "expected a mapping with realm and path");
  check_keys(h, "auth.htpasswd.", {"realm", "path"}, p);
  HtpasswdOptions o;
  bool good = true;
  for (const char* key : {"realm", "path"}) {
    const std::string name = std::string("auth.htpasswd.") + key;
    auto v = h[key];
    if (!v) {
      p.add(h, name, "is required");
      good = false;
      continue;
    }
    std::string& out = std::string_view(key) == "realm" ? o.realm : o.path;
    if (!read_scalar(v, name, out, p, std::string_view(key) == "realm" ? "a string" : "a file")) good = false;
    else if (out.empty()) {
      p.add(v, name, "is empty");
      good = false;
    }
  }
  if (good) config.htpasswd = std::move(o);
}

}  // namespace

Result<void> set_listen(Config& config, const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return make_error(Errc::invalid_argument, "listen address '" + listen + "' must be ADDR:PORT");
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  // registry:2's ":5000": every interface.
  if (host.empty()) host = "0.0.0.0";
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535)
    return make_error(Errc::invalid_argument, "listen address '" + listen + "' has an invalid port");
  auto address = listen_host(host);
  if (!address) return make_error(Errc::invalid_argument, "listen address '" + listen + "': " + address.error().message);
  config.server.address = *address;
  config.server.port = static_cast<std::uint16_t>(value);
  return ok();
}

bool is_loopback_address(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, address.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

Result<void> resolve_listen(Config& config) {
  const std::string& host = config.server.address;
  if (is_ip_literal(host)) return ok();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0)
    return make_error(Errc::invalid_argument, "listen host '" + host + "': " + ::gai_strerror(rc));
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr = found->ai_family == AF_INET6
                         ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
                         : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  ::inet_ntop(found->ai_family, addr, text, sizeof text);
  ::freeaddrinfo(found);
  config.server.address = text;
  return ok();
}

Result<Config> load_config(const std::string& path) {
  auto text = read_config_file(path);
  if (!text) return make_error(Errc::invalid_argument, text.error().message);
  return parse_config(*text, path);
}

Result<Config> parse_config(const std::string& text, const std::string& path) {
  Config config;
  Problems p{path, {}};
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument,
                      path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  // Keys that are lists, keys set twice: listed, never read.
  if (auto found = check_yaml_tree(doc); !found.empty()) {
    std::string message = "invalid config:";
    for (const auto& f : found)
      message += "\n  " + path + ":" + std::to_string(f.line) + ": key '" + f.key + "': " + f.message;
    return make_error(Errc::invalid_argument, message);
  }
  if (doc.IsNull()) return config;
  if (!doc.IsMap()) return make_error(Errc::invalid_argument, path + ": the config must be a mapping");
  check_keys(doc, "", {"listen", "root", "delete", "threads", "workers", "log", "limits", "storage", "auth"}, p);

  if (auto n = doc["listen"]) {
    std::string listen;
    if (read_scalar(n, "listen", listen, p, "ADDR:PORT"))
      if (auto r = set_listen(config, listen); !r) p.add(n, "listen", r.error().message);
  }
  if (auto n = doc["root"]) {
    if (read_scalar(n, "root", config.root, p, "a directory") && config.root.empty()) p.add(n, "root", "is empty");
  }
  if (auto n = doc["delete"]) {
    // Both "delete: false" and registry:2's "delete: {enabled: false}".
    if (n.IsMap()) {
      check_keys(n, "delete.", {"enabled"}, p);
      if (auto e = n["enabled"]) read_scalar(e, "delete.enabled", config.api.delete_enabled, p, "true or false");
    } else {
      read_scalar(n, "delete", config.api.delete_enabled, p, "true or false");
    }
  }
  if (auto n = doc["threads"]) read_between(n, "threads", 0, kMaxThreads, config.server.threads, p, "a number");
  if (auto n = doc["workers"]) read_between(n, "workers", 1, kMaxThreads, config.server.blocking_threads, p, "a number");
  if (auto n = doc["log"]) {
    if (!n.IsMap()) {
      p.add(n, "log", "expected a mapping");
    } else {
      check_keys(n, "log.", {"level", "access"}, p);
      if (auto l = n["level"]) {
        if (read_scalar(l, "log.level", config.log_level, p, "a level")) {
          static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
          if (!levels.count(config.log_level)) p.add(l, "log.level", "must be one of trace, debug, info, warn, error, off");
        }
      }
      if (auto a = n["access"]) read_scalar(a, "log.access", config.server.access_log, p, "true or false");
    }
  }
  if (auto n = doc["limits"]) {
    if (!n.IsMap()) {
      p.add(n, "limits", "expected a mapping");
    } else {
      check_keys(n, "limits.",
                 {"max_manifest_bytes", "max_connections", "max_connections_per_ip", "max_buffered_body_bytes",
                  "header_timeout_s", "idle_timeout_s", "io_timeout_s", "buffered_body_timeout_s", "shutdown_grace_s",
                  "max_list_entries", "max_header_bytes", "max_uploads_per_repository", "max_uploads"},
                 p);
      if (auto v = n["max_uploads_per_repository"])
        read_between(v, "limits.max_uploads_per_repository", 1, kMaxUploadsLimit,
                     config.store.max_uploads_per_repository, p, "a number");
      if (auto v = n["max_uploads"])
        read_between(v, "limits.max_uploads", 1, kMaxUploadsLimit, config.store.max_uploads, p, "a number");
      if (auto v = n["max_manifest_bytes"])
        read_between(v, "limits.max_manifest_bytes", 1, kMaxManifestLimit, config.store.max_manifest_bytes, p,
                     "a number of bytes");
      if (auto v = n["max_connections"])
        read_between(v, "limits.max_connections", 1, kMaxConnectionsLimit, config.server.max_connections, p, "a number");
      if (auto v = n["max_connections_per_ip"])
        read_between(v, "limits.max_connections_per_ip", 1, kMaxConnectionsLimit, config.server.max_connections_per_client,
                     p, "a number");
      if (auto v = n["max_buffered_body_bytes"])
        read_between(v, "limits.max_buffered_body_bytes", 1024 * 1024, kMaxBufferedBodyLimit,
                     config.api.max_buffered_body_bytes, p, "a number of bytes");
      if (auto v = n["max_list_entries"])
        read_between(v, "limits.max_list_entries", 1, kMaxListEntriesLimit, config.api.max_list_entries, p, "a number");
      if (auto v = n["max_header_bytes"])
        read_between(v, "limits.max_header_bytes", 1024, kMaxHeaderBytesLimit, config.server.max_header_bytes, p, "a number");
      if (auto v = n["header_timeout_s"]) read_seconds(v, "limits.header_timeout_s", config.server.header_timeout, p);
      if (auto v = n["idle_timeout_s"]) read_seconds(v, "limits.idle_timeout_s", config.server.idle_timeout, p);
      if (auto v = n["buffered_body_timeout_s"])
        read_seconds(v, "limits.buffered_body_timeout_s", config.server.buffered_body_timeout, p);
      if (auto v = n["io_timeout_s"]) read_seconds(v, "limits.io_timeout_s", config.server.io_timeout, p);
      if (auto v = n["shutdown_grace_s"]) read_seconds(v, "limits.shutdown_grace_s", config.server.shutdown_grace, p);
    }
  }
  if (auto n = doc["storage"]) read_storage(n, config, p);
  if (auto n = doc["auth"]) read_auth(n, config, p);
  if (!p.list.empty()) {
    std::string message = "invalid config:";
    for (const auto& line : p.list) message += "\n  " + line;
    return make_error(Errc::invalid_argument, message);
  }
  return config;
}

}  // namespace rs::registry
