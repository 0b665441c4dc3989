#include "registry/config.hpp"

#include "core/yaml_tree.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <vector>

namespace rs::registry {
namespace {

struct Problems {
  std::string file;
  std::vector<std::string> list;
  std::vector<std::string> warnings;
  std::string where(const YAML::Node& node, const std::string& key) const {
    // (A node an environment variable set has no line.)
    const int line = node.Mark().line;
    return (line >= 0 ? file + ":" + std::to_string(line + 1) : std::string("environment")) + ": key '" + key + "': ";
  }
  void add(const YAML::Node& node, const std::string& key, const std::string& what) {
    list.push_back(where(node, key) + what);
  }
  void warn(const YAML::Node& node, const std::string& key, const std::string& what) {
    warnings.push_back(where(node, key) + what);
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
// and s, between `min` and kMaxPurgeDuration.
void read_duration(const YAML::Node& node, const std::string& key, std::chrono::seconds& out, Problems& p,
                   std::chrono::seconds min = kMinPurgeDuration) {
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
  if (total < min.count())
    return p.add(node, key, min.count() % 60 == 0 ? "must be at least " + std::to_string(min.count() / 60) + "m"
                                                   : "must be at least " + std::to_string(min.count()) + "s");
  if (total > kMaxPurgeDuration.count())
    return p.add(node, key, "must be at most " + std::to_string(kMaxPurgeDuration.count() / 3600) + "h");
  out = std::chrono::seconds(total);
}

// storage: registry:2's section; of it, maintenance.uploadpurging.
void read_storage(const YAML::Node& n, Config& config, Problems& p, bool root_given) {
  if (!n.IsMap()) return p.add(n, "storage", "expected a mapping");
  for (const auto& kv : n) {
    const auto key = kv.first.Scalar();
    if (key == "filesystem" || key == "delete" || key == "maintenance") continue;
    if (key == "cache" || key == "redirect" || key == "tag")
      p.warn(kv.first, "storage." + key, "ignored (registry:2 tuning this registry does not need)");
    else if (key == "s3" || key == "azure" || key == "gcs" || key == "swift" || key == "oss" || key == "inmemory")
      p.add(kv.first, "storage." + key,
            "storage driver not supported: only filesystem is (refusing to start rather than keep the data elsewhere "
            "than configured)");
    else p.add(kv.first, "storage." + key, "unknown key");
  }
  if (auto fs = n["filesystem"]) {
    if (!fs.IsMap()) {
      p.add(fs, "storage.filesystem", "expected a mapping with rootdirectory");
    } else {
      for (const auto& kv : fs) {
        const auto key = kv.first.Scalar();
        if (key == "maxthreads") p.warn(kv.first, "storage.filesystem.maxthreads", "ignored (see workers)");
        else if (key != "rootdirectory") p.add(kv.first, "storage.filesystem." + key, "unknown key");
      }
      if (auto r = fs["rootdirectory"]) {
        if (root_given) p.add(r, "storage.filesystem.rootdirectory", "set twice: also given as root");
        else if (read_scalar(r, "storage.filesystem.rootdirectory", config.root, p, "a directory") && config.root.empty())
          p.add(r, "storage.filesystem.rootdirectory", "is empty");
      }
    }
  }
  if (auto d = n["delete"]) {
    if (!d.IsMap()) {
      p.add(d, "storage.delete", "expected a mapping with enabled");
    } else {
      check_keys(d, "storage.delete.", {"enabled"}, p);
      if (auto e = d["enabled"]) read_scalar(e, "storage.delete.enabled", config.api.delete_enabled, p, "true or false");
    }
  }
  auto maintenance = n["maintenance"];
  if (!maintenance) return;
  if (!maintenance.IsMap()) return p.add(maintenance, "storage.maintenance", "expected a mapping");
  for (const auto& kv : maintenance) {
    const auto key = kv.first.Scalar();
    // Ignoring a read-only switch would let writes in: refused.
    if (key == "readonly")
      p.add(kv.first, "storage.maintenance.readonly", "not supported (refusing to start rather than accept writes)");
    else if (key != "uploadpurging") p.add(kv.first, "storage.maintenance." + key, "unknown key");
  }
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

bool read_text(const YAML::Node& m, const char* key, const std::string& prefix, std::string& out, Problems& p,
               const char* expected);

// retention: a list of rules (retention.hpp), applied before each scheduled collection.
void read_retention(const YAML::Node& n, Config& config, Problems& p) {
  if (!n.IsSequence()) return p.add(n, "retention", "expected a list of rules");
  if (n.size() > kMaxRetentionRules)
    return p.add(n, "retention", "at most " + std::to_string(kMaxRetentionRules) + " rules");
  for (std::size_t i = 0; i < n.size(); ++i) {
    const auto r = n[i];
    const std::string prefix = "retention[" + std::to_string(i) + "]";
    if (!r.IsMap()) {
      p.add(r, prefix, "expected a mapping: {repository, keep_last, older_than, keep}");
      continue;
    }
    check_keys(r, prefix + ".", {"repository", "keep_last", "older_than", "keep"}, p);
    RetentionRule rule;
    if (!r["repository"]) {
      p.add(r, prefix, "needs repository (a pattern such as \"ci/**\")");
    } else if (read_scalar(r["repository"], prefix + ".repository", rule.repository, p, "a pattern")) {
      std::string why;
      if (!valid_pattern(rule.repository, &why)) p.add(r["repository"], prefix + ".repository", "the pattern " + why);
    }
    if (auto v = r["keep_last"]) {
      std::size_t keep = 0;
      read_between(v, prefix + ".keep_last", 0, 1'000'000, keep, p, "a number of tags");
      rule.keep_last = keep;
    }
    if (auto v = r["older_than"]) {
      std::chrono::seconds age{};
      read_duration(v, prefix + ".older_than", age, p, std::chrono::seconds(1));
      rule.older_than = age;
    }
    // Without either, a rule would drop every tag that no glob keeps, at once: a mistake.
    if (!r["keep_last"] && !r["older_than"]) p.add(r, prefix, "needs keep_last or older_than (or both)");
    if (auto v = r["keep"]) {
      if (!v.IsSequence() || v.size() > kMaxTagGlobs) {
        p.add(v, prefix + ".keep", "expected a list of at most " + std::to_string(kMaxTagGlobs) + " tag globs");
      } else {
        for (std::size_t k = 0; k < v.size(); ++k) {
          std::string glob;
          if (!read_scalar(v[k], prefix + ".keep", glob, p, "a tag glob such as \"v*\"")) continue;
          if (glob.empty() || glob.size() > 128) p.add(v[k], prefix + ".keep", "a tag glob is 1 to 128 characters");
          else rule.keep.push_back(glob);
        }
      }
    }
    config.gc.retention.push_back(std::move(rule));
  }
}

// gc: the scheduled garbage collection (gc_scheduler.hpp). Giving the section turns it on
// unless it says enabled: false.
void read_gc(const YAML::Node& n, Config& config, Problems& p) {
  if (!n.IsMap()) return p.add(n, "gc", "expected a mapping");
  check_keys(n, "gc.", {"enabled", "interval", "grace", "delete_untagged", "dryrun", "lock_ttl"}, p);
  GcScheduleOptions& o = config.gc;
  o.enabled = true;
  if (auto v = n["enabled"]) read_scalar(v, "gc.enabled", o.enabled, p, "true or false");
  if (auto v = n["interval"]) read_duration(v, "gc.interval", o.interval, p, std::chrono::seconds(1));
  if (auto v = n["grace"]) read_duration(v, "gc.grace", o.grace, p, std::chrono::seconds(0));
  if (auto v = n["delete_untagged"]) read_scalar(v, "gc.delete_untagged", o.delete_untagged, p, "true or false");
  if (auto v = n["dryrun"]) read_scalar(v, "gc.dryrun", o.dry_run, p, "true or false");
  if (auto v = n["lock_ttl"]) read_duration(v, "gc.lock_ttl", o.lock_ttl, p, std::chrono::seconds(5));
}

constexpr std::size_t kMaxClientCas = 100;

// http.tls: registry:2's certificate, key, clientcas, minimumtls. What would serve other
// ciphers or versions than asked, or no TLS at all, is refused.
void read_tls(const YAML::Node& n, Config& config, Problems& p) {
  const std::string prefix = "http.tls.";
  if (!n.IsMap()) return p.add(n, "http.tls", "expected a mapping with certificate and key");
  for (const auto& kv : n) {
    const auto key = kv.first.Scalar();
    if (key == "ciphersuites")
      p.add(kv.first, prefix + key,
            "not supported: OpenSSL's TLS 1.3 suites and TLS 1.2's ECDHE with AES-GCM or ChaCha20 are served "
            "(refusing to start rather than offer suites other than listed; remove the key)");
    else if (key == "letsencrypt")
      p.add(kv.first, prefix + key,
            "not supported: no ACME client here (give certificate and key; refusing to serve without TLS)");
    else if (key != "certificate" && key != "key" && key != "clientcas" && key != "minimumtls")
      p.add(kv.first, prefix + key, "unknown key");
  }
  TlsOptions o;
  bool good = true;
  for (const char* key : {"certificate", "key"}) {
    std::string& out = std::string_view(key) == "key" ? o.key : o.certificate;
    if (!n[key]) {
      p.add(n, prefix + key, "is required (a PEM file)");
      good = false;
    } else if (!read_text(n, key, prefix, out, p, "a PEM file")) {
      good = false;
    }
  }
  if (auto cas = n["clientcas"]) {
    // A list as registry:2 writes it; one file alone too (what REGISTRY_HTTP_TLS_CLIENTCAS gives).
    if (cas.IsScalar()) {
      std::string file;
      if (read_text(n, "clientcas", prefix, file, p, "a list of PEM files")) o.client_cas.push_back(file);
      else good = false;
    } else if (!cas.IsSequence() || cas.size() == 0) {
      p.add(cas, prefix + "clientcas", "expected a list of PEM files (CAs that sign the clients' certificates)");
      good = false;
    } else if (cas.size() > kMaxClientCas) {
      p.add(cas, prefix + "clientcas", "more than 100 files");
      good = false;
    } else {
      for (const auto& f : cas) {
        std::string file;
        if (!read_scalar(f, prefix + "clientcas", file, p, "a PEM file") || file.empty()) {
          if (f.IsScalar()) p.add(f, prefix + "clientcas", "is empty");
          good = false;
        } else {
          o.client_cas.push_back(file);
        }
      }
    }
  }
  if (auto m = n["minimumtls"]) {
    std::string version;
    if (!read_scalar(m, prefix + "minimumtls", version, p, "tls1.2 or tls1.3")) good = false;
    else if (version == "tls1.2") o.minimum = TlsVersion::tls12;
    else if (version == "tls1.3") o.minimum = TlsVersion::tls13;
    else {
      p.add(m, prefix + "minimumtls",
            version == "tls1.0" || version == "tls1.1"
                ? "'" + version + "' is not supported: TLS 1.0 and 1.1 are broken (RFC 8996); use tls1.2 or tls1.3"
                : "expected tls1.2 or tls1.3, got '" + version.substr(0, 40) + "'");
      good = false;
    }
  }
  if (good) config.tls = std::move(o);
}

// http: registry:2's section; of it addr (our listen), tls, and secret (no use here).
void read_http(const YAML::Node& n, Config& config, Problems& p, bool listen_given) {
  if (!n.IsMap()) return p.add(n, "http", "expected a mapping");
  for (const auto& kv : n) {
    const auto key = kv.first.Scalar();
    if (key == "addr") continue;
    if (key == "secret")
      p.warn(kv.first, "http.secret", "ignored: no upload state is handed to clients here, so none is signed");
    else if (key == "tls")
      read_tls(kv.second, config, p);
    else if (key == "net") {
      std::string net;
      if (read_scalar(kv.second, "http.net", net, p, "tcp") && net != "tcp")
        p.add(kv.second, "http.net", "only tcp is supported");
    } else if (key == "host" || key == "prefix" || key == "relativeurls" || key == "headers" || key == "debug" ||
               key == "http2" || key == "draintimeout" || key == "h2c")
      p.warn(kv.first, "http." + key, "ignored (not supported)");
    else p.add(kv.first, "http." + key, "unknown key");
  }
  if (auto a = n["addr"]) {
    std::string addr;
    if (listen_given) p.add(a, "http.addr", "set twice: also given as listen");
    else if (read_scalar(a, "http.addr", addr, p, "ADDR:PORT"))
      if (auto r = set_listen(config, addr); !r) p.add(a, "http.addr", r.error().message);
  }
}

// The registry:2 sections this registry has no use for: each named in a warning.
void warn_unsupported(const YAML::Node& doc, Problems& p) {
  static const std::set<std::string> ignored{"health", "notifications", "redis", "reporting", "validation",
                                             "compatibility", "middleware", "loglevel"};
  for (const auto& kv : doc) {
    const auto key = kv.first.Scalar();
    if (ignored.count(key)) p.warn(kv.first, key, "ignored (a registry:2 section this registry does not support)");
    if (key == "proxy")
      p.add(kv.first, "proxy", "a pull-through cache is not supported yet (refusing to start as a plain registry instead)");
  }
}

// A non-empty string at `key` of map `m` into `out`; false (with a problem when given) if not.
bool read_text(const YAML::Node& m, const char* key, const std::string& prefix, std::string& out, Problems& p,
               const char* expected) {
  auto v = m[key];
  if (!v) return false;
  const std::string name = prefix + key;
  if (!read_scalar(v, name, out, p, expected)) return false;
  if (out.empty()) {
    p.add(v, name, "is empty");
    return false;
  }
  return true;
}

void read_htpasswd(const YAML::Node& h, Config& config, Problems& p) {
  if (!h.IsMap()) return p.add(h, "auth.htpasswd", "expected a mapping with realm and path");
  check_keys(h, "auth.htpasswd.", {"realm", "path"}, p);
  HtpasswdOptions o;
  bool good = true;
  for (const char* key : {"realm", "path"}) {
    std::string& out = std::string_view(key) == "realm" ? o.realm : o.path;
    if (!h[key]) {
      p.add(h, std::string("auth.htpasswd.") + key, "is required");
      good = false;
    } else if (!read_text(h, key, "auth.htpasswd.", out, p, std::string_view(key) == "realm" ? "a string" : "a file")) {
      good = false;
    }
  }
  if (good) config.htpasswd = std::move(o);
}

// registry:2's auth.token (realm, service, issuer, rootcertbundle) and ours (signingkey,
// expiration). Keys that would change how tokens are checked and that we cannot honour
// (jwks, signingalgorithms) are errors.
void read_token(const YAML::Node& t, Config& config, Problems& p) {
  const std::string prefix = "auth.token.";
  if (!t.IsMap()) return p.add(t, "auth.token", "expected a mapping with service, issuer and rootcertbundle or signingkey");
  for (const auto& kv : t) {
    const auto key = kv.first.Scalar();
    if (key == "jwks" || key == "signingalgorithms" || key == "autoredirect")
      p.add(kv.first, prefix + key, "not supported (the registry refuses to start rather than check tokens otherwise)");
    else if (key != "realm" && key != "service" && key != "issuer" && key != "rootcertbundle" && key != "signingkey" &&
             key != "expiration")
      p.add(kv.first, prefix + key, "unknown key");
  }
  TokenOptions o;
  bool good = true;
  for (const char* key : {"service", "issuer"})
    if (!t[key]) {
      p.add(t, prefix + key, "is required");
      good = false;
    }
  read_text(t, "service", prefix, o.service, p, "a string");
  read_text(t, "issuer", prefix, o.issuer, p, "a string");
  read_text(t, "realm", prefix, o.realm, p, "a URL");
  read_text(t, "rootcertbundle", prefix, o.rootcertbundle, p, "a file");
  read_text(t, "signingkey", prefix, o.signingkey, p, "a file");
  if (auto v = t["expiration"]) {
    read_seconds(v, prefix + "expiration", o.expiration, p);
    if (o.expiration < std::chrono::seconds(60)) p.add(v, prefix + "expiration", "must be at least 60");
  }
  if (o.signingkey.empty() && o.rootcertbundle.empty()) {
    p.add(t, "auth.token", "needs rootcertbundle (an issuer's certificates) or signingkey (be the token server)");
    good = false;
  }
  if (o.signingkey.empty() && o.realm.empty()) {
    p.add(t, "auth.token.realm", "is required (the token server's URL) unless signingkey makes this registry one");
    good = false;
  }
  if (!o.realm.empty() && o.realm.rfind("https://", 0) != 0 && o.realm.rfind("http://", 0) != 0) {
    p.add(t["realm"], prefix + "realm", "must be an http:// or https:// URL");
    good = false;
  }
  if (good) config.token = std::move(o);
}

// auth: registry:2's section; of its methods, htpasswd and token. One we cannot honour is
// an error: serving open what was meant to be closed would be worse than not starting.
void read_auth(const YAML::Node& n, Config& config, Problems& p) {
  if (!n.IsMap() || n.size() == 0)
    return p.add(n, "auth", "expected a mapping with htpasswd: {realm, path} and/or token: {...} (remove auth to serve without it)");
  for (const auto& kv : n) {
    const auto key = kv.first.Scalar();
    if (key != "htpasswd" && key != "token")
      p.add(kv.first, "auth." + key,
            key == "silly" ? "not supported: only auth.htpasswd and auth.token are (the registry refuses to start rather than serve open)"
                           : "unknown key: only auth.htpasswd and auth.token are supported (the registry refuses to start rather than serve open)");
  }
  if (auto h = n["htpasswd"]) read_htpasswd(h, config, p);
  if (auto t = n["token"]) read_token(t, config, p);
  if (n["htpasswd"] && config.token && config.token->signingkey.empty())
    p.add(n["token"], "auth.token",
          "with auth.htpasswd beside it needs signingkey: this registry then issues the tokens for those users");
  if (config.token && !config.token->signingkey.empty() && n["token"] && !n["htpasswd"])
    p.add(n["token"], "auth.token.signingkey", "needs auth.htpasswd: the users the token server logs in");
}

constexpr std::size_t kMaxAccessRules = 1000;
constexpr std::size_t kMaxAccessNames = 10000;

// [pull, push, delete] into `out`.
void read_actions(const YAML::Node& n, const std::string& key, Actions& out, Problems& p) {
  if (!n.IsSequence()) return p.add(n, key, "expected a list of actions (pull, push, delete)");
  for (const auto& a : n) {
    std::string word;
    if (!read_scalar(a, key, word, p, "an action")) continue;
    auto bit = parse_action(word);
    if (!bit || word == "*") p.add(a, key, "'" + word.substr(0, 40) + "' is not an action (pull, push, delete)");
    else out |= *bit;
  }
}

// A name (a user or a group) as a key or list item: plain, at most kMaxUserName bytes.
bool read_name(const YAML::Node& n, const std::string& key, std::string& out, Problems& p, const char* what) {
  if (!read_scalar(n, key, out, p, what)) return false;
  if (out.empty() || out.size() > kMaxUserName || out.find(':') != std::string::npos) {
    p.add(n, key, std::string("'") + out.substr(0, 40) + "' is not a " + what + " (1 to 256 characters, no ':')");
    return false;
  }
  return true;
}

// access: groups of users and the rules granting actions on repository patterns.
void read_access(const YAML::Node& n, Config& config, Problems& p) {
  if (!n.IsMap()) return p.add(n, "access", "expected a mapping with rules (and groups)");
  check_keys(n, "access.", {"groups", "rules"}, p);
  std::map<std::string, std::set<std::string>, std::less<>> groups;
  std::size_t names = 0;
  if (auto g = n["groups"]) {
    if (!g.IsMap()) p.add(g, "access.groups", "expected a mapping of group: [users]");
    else
      for (const auto& kv : g) {
        std::string group;
        if (!read_name(kv.first, "access.groups", group, p, "group name")) continue;
        const std::string key = "access.groups." + group;
        if (!kv.second.IsSequence()) {
          p.add(kv.second, key, "expected a list of users");
          continue;
        }
        auto& members = groups[group];
        for (const auto& u : kv.second) {
          std::string user;
          if (++names > kMaxAccessNames) return p.add(u, key, "more than 10000 names in access");
          if (read_name(u, key, user, p, "user name")) members.insert(user);
        }
      }
  }
  auto rules_node = n["rules"];
  if (!rules_node) return p.add(n, "access.rules", "is required (a list of rules)");
  if (!rules_node.IsSequence()) return p.add(rules_node, "access.rules", "expected a list of rules");
  if (rules_node.size() > kMaxAccessRules) return p.add(rules_node, "access.rules", "more than 1000 rules");
  std::vector<AccessRule> rules;
  std::size_t index = 0;
  for (const auto& r : rules_node) {
    const std::string prefix = "access.rules[" + std::to_string(index++) + "]";
    if (!r.IsMap()) {
      p.add(r, prefix, "expected a mapping with repository and who may do what");
      continue;
    }
    check_keys(r, prefix + ".", {"repository", "anonymous", "authenticated", "users", "groups"}, p);
    AccessRule rule;
    if (!r["repository"]) p.add(r, prefix + ".repository", "is required (a pattern such as team/** or *)");
    else if (read_scalar(r["repository"], prefix + ".repository", rule.repository, p, "a pattern")) {
      std::string why;
      if (!valid_pattern(rule.repository, &why)) p.add(r["repository"], prefix + ".repository", "the pattern " + why);
    }
    if (auto a = r["anonymous"]) read_actions(a, prefix + ".anonymous", rule.anonymous, p);
    if (auto a = r["authenticated"]) read_actions(a, prefix + ".authenticated", rule.authenticated, p);
    for (const char* who : {"users", "groups"}) {
      auto m = r[who];
      if (!m) continue;
      const std::string key = prefix + "." + who;
      if (!m.IsMap()) {
        p.add(m, key, std::string("expected a mapping of ") + (who[0] == 'u' ? "user" : "group") + ": [actions]");
        continue;
      }
      for (const auto& kv : m) {
        std::string name;
        if (++names > kMaxAccessNames) return p.add(kv.first, key, "more than 10000 names in access");
        if (!read_name(kv.first, key, name, p, who[0] == 'u' ? "user name" : "group name")) continue;
        if (who[0] == 'g' && !groups.count(name)) p.add(kv.first, key + "." + name, "no such group in access.groups");
        Actions actions = 0;
        read_actions(kv.second, key + "." + name, actions, p);
        (who[0] == 'u' ? rule.users : rule.groups)[name] |= actions;
      }
    }
    rules.push_back(std::move(rule));
  }
  config.access = AccessPolicy(std::move(groups), std::move(rules));
}

// Every key a REGISTRY_* variable may set, registry:2's and ours: REGISTRY_A_B_C sets a.b.c,
// the name made of the path (a key with '_' keeps it: REGISTRY_LIMITS_MAX_UPLOADS). A key
// added to the parser belongs here too.
constexpr const char* kEnvironmentPaths[] = {
    "version", "listen", "root", "delete", "threads", "workers",
    "http.addr", "http.secret", "http.tls.certificate", "http.tls.key", "http.tls.clientcas", "http.tls.minimumtls",
    "log.level", "log.access", "log.accesslog.disabled",
    "storage.filesystem.rootdirectory", "storage.delete.enabled",
    "storage.maintenance.uploadpurging.enabled", "storage.maintenance.uploadpurging.age",
    "storage.maintenance.uploadpurging.interval", "storage.maintenance.uploadpurging.dryrun",
    "limits.max_manifest_bytes", "limits.max_connections", "limits.max_connections_per_ip",
    "limits.max_buffered_body_bytes", "limits.header_timeout_s", "limits.idle_timeout_s", "limits.io_timeout_s",
    "limits.buffered_body_timeout_s", "limits.shutdown_grace_s", "limits.max_list_entries",
    "limits.max_header_bytes", "limits.max_uploads_per_repository", "limits.max_uploads",
    "auth.htpasswd.realm", "auth.htpasswd.path",
    "auth.token.realm", "auth.token.service", "auth.token.issuer", "auth.token.rootcertbundle",
    "auth.token.signingkey", "auth.token.expiration",
    "gc.enabled", "gc.interval", "gc.grace", "gc.delete_untagged", "gc.dryrun", "gc.lock_ttl",
};
// Two spellings of one setting: the variable's replaces the file's other one.
constexpr std::pair<const char*, const char*> kAliases[] = {
    {"listen", "http.addr"}, {"root", "storage.filesystem.rootdirectory"}};

std::vector<std::string> split_path(std::string_view dotted) {
  std::vector<std::string> out;
  for (std::size_t from = 0;;) {
    const auto dot = dotted.find('.', from);
    out.emplace_back(dotted.substr(from, dot - from));
    if (dot == std::string_view::npos) return out;
    from = dot + 1;
  }
}

const std::map<std::string, std::string, std::less<>>& environment_keys() {
  static const std::map<std::string, std::string, std::less<>> keys = [] {
    std::map<std::string, std::string, std::less<>> out;
    for (std::string_view path : kEnvironmentPaths) {
      std::string name = "REGISTRY_";
      for (char c : path) name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      out.emplace(std::move(name), std::string(path));
    }
    return out;
  }();
  return keys;
}

// Removes the key at a dotted path of `doc`, if it is there.
void remove_path(YAML::Node doc, std::string_view dotted) {
  const auto keys = split_path(dotted);
  YAML::Node at = doc;
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = at[keys[i]];
    if (!next || !next.IsMap()) return;
    at.reset(next);
  }
  if (at.IsMap()) at.remove(keys.back());
}

constexpr std::size_t kMaxEnvironmentValue = 4096;

// A variable's value as the node it sets: a string, or for a list ("[a.pem, b.pem]", as
// registry:2 reads it) the list of strings.
YAML::Node environment_value(const std::string& value) {
  if (value.size() > 1 && value.front() == '[' && value.back() == ']') {
    try {
      YAML::Node list = YAML::Load(value);
      bool plain = list.IsSequence() && list.size() > 0;
      for (const auto& item : list) plain = plain && item.IsScalar();
      if (plain) return list;
    } catch (const YAML::Exception&) {
      // not a list: the text as it is
    }
  }
  return YAML::Node(value);
}

// Sets each known variable's key in `doc` (a mapping), over what the file says; a variable
// that names nothing known here is a warning (skopeo's REGISTRY_AUTH_FILE, say).
void apply_environment(YAML::Node& doc, const Environment& environment, std::vector<std::string>& warnings) {
  for (const auto& [name, value] : environment) {
    const std::string shown = name.size() > 100 ? name.substr(0, 100) + "..." : name;
    auto it = environment_keys().find(name);
    if (it == environment_keys().end()) {
      warnings.push_back("environment: " + shown + " ignored (no such setting here)");
      continue;
    }
    if (value.size() > kMaxEnvironmentValue) {
      warnings.push_back("environment: " + name + " ignored (longer than 4096 bytes)");
      continue;
    }
    const std::string& path = it->second;
    for (const auto& [one, other] : kAliases) {
      if (path == one) remove_path(doc, other);
      if (path == other) remove_path(doc, one);
    }
    YAML::Node at = doc;
    const auto keys = split_path(path);
    bool blocked = false;
    for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
      YAML::Node next = at[keys[i]];
      if (!next || next.IsNull()) {
        at[keys[i]] = YAML::Node(YAML::NodeType::Map);
        next = at[keys[i]];
      }
      if (!next.IsMap()) {
        blocked = true;
        break;
      }
      at.reset(next);
    }
    if (blocked) warnings.push_back("environment: " + name + " ignored (the file's value there is not a mapping)");
    else at[keys.back()] = environment_value(value);
  }
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

Result<Config> load_config(const std::string& path, const Environment& environment) {
  auto text = read_config_file(path);
  if (!text) return make_error(Errc::invalid_argument, text.error().message);
  return parse_config(*text, path, environment);
}

Environment registry_environment(char** envp) {
  Environment out;
  for (; envp && *envp; ++envp) {
    const std::string_view entry(*envp);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos || entry.substr(0, 9) != "REGISTRY_") continue;
    out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

Result<Config> parse_config(const std::string& text, const std::string& path, const Environment& environment) {
  Config config;
  Problems p{path, {}, {}};
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
  if (!environment.empty()) {
    if (doc.IsNull()) doc = YAML::Node(YAML::NodeType::Map);
    if (!doc.IsMap()) return make_error(Errc::invalid_argument, path + ": the config must be a mapping");
    apply_environment(doc, environment, config.warnings);
  }
  if (doc.IsNull()) return config;
  if (!doc.IsMap()) return make_error(Errc::invalid_argument, path + ": the config must be a mapping");
  check_keys(doc, "",
             {"listen", "root", "delete", "threads", "workers", "log", "limits", "storage", "auth", "access", "gc", "retention",
              "version",
              "http", "health", "notifications", "redis", "reporting", "validation", "compatibility", "middleware",
              "proxy", "loglevel"},
             p);
  warn_unsupported(doc, p);
  if (auto v = doc["version"]) {
    std::string version;
    if (read_scalar(v, "version", version, p, "0.1") && version != "0.1") p.add(v, "version", "must be 0.1 (registry:2's)");
  }
  if (auto n = doc["http"]) read_http(n, config, p, static_cast<bool>(doc["listen"]));

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
      for (const auto& kv : n) {
        const auto key = kv.first.Scalar();
        if (key == "formatter" || key == "fields" || key == "hooks" || key == "reportcaller")
          p.warn(kv.first, "log." + key, "ignored (the log is systemd's journal format)");
        else if (key != "level" && key != "access" && key != "accesslog") p.add(kv.first, "log." + key, "unknown key");
      }
      if (auto a = n["accesslog"]) {
        // registry:2's log.accesslog.disabled.
        if (!a.IsMap()) p.add(a, "log.accesslog", "expected a mapping with disabled");
        else {
          check_keys(a, "log.accesslog.", {"disabled"}, p);
          bool disabled = false;
          if (auto d = a["disabled"]; d && read_scalar(d, "log.accesslog.disabled", disabled, p, "true or false"))
            config.server.access_log = !disabled;
        }
      }
      if (auto l = n["level"]) {
        if (read_scalar(l, "log.level", config.log_level, p, "a level")) {
          // registry:2's (logrus's) names too.
          if (config.log_level == "warning") config.log_level = "warn";
          if (config.log_level == "fatal" || config.log_level == "panic") config.log_level = "error";
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
  if (auto n = doc["storage"]) read_storage(n, config, p, static_cast<bool>(doc["root"]));
  if (auto n = doc["auth"]) read_auth(n, config, p);
  if (auto n = doc["gc"]) read_gc(n, config, p);
  if (auto n = doc["retention"]) {
    read_retention(n, config, p);
    if (!config.gc.enabled) p.warn(n, "retention", "applied only by the gc section's schedule (or gc --retention)");
  }
  if (auto n = doc["access"]) {
    read_access(n, config, p);
    // Rules need users of this registry: an external issuer's tokens carry their own grants.
    const auto auth = doc["auth"];
    if (!auth || !auth.IsMap() || !auth["htpasswd"])
      p.add(n, "access", "needs auth.htpasswd (the users the rules name); without auth everyone may do everything");
  }
  if (!p.list.empty()) {
    std::string message = "invalid config:";
    for (const auto& line : p.list) message += "\n  " + line;
    return make_error(Errc::invalid_argument, message);
  }
  config.warnings.insert(config.warnings.end(), p.warnings.begin(), p.warnings.end());
  return config;
}

}  // namespace rs::registry
