#include "registry/config.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
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

// A whole number of at least `min` (a size or a count) into `out`.
template <typename T>
void read_at_least(const YAML::Node& node, const std::string& key, long long min, T& out, Problems& p,
                   const char* expected) {
  long long v = 0;
  if (read_scalar(node, key, v, p, expected)) {
    if (v < min) p.add(node, key, min == 1 ? std::string("must be positive") : "must be at least " + std::to_string(min));
    else out = static_cast<T>(v);
  }
}

void read_seconds(const YAML::Node& node, const std::string& key, std::chrono::seconds& out, Problems& p) {
  long long v = 0;
  if (read_scalar(node, key, v, p, "a number of seconds")) {
    if (v <= 0) p.add(node, key, "must be positive");
    else out = std::chrono::seconds(v);
  }
}

void check_keys(const YAML::Node& map, const std::string& prefix, const std::set<std::string>& allowed, Problems& p) {
  for (const auto& kv : map) {
    auto key = kv.first.as<std::string>();
    if (!allowed.count(key)) p.add(kv.first, prefix + key, "unknown key");
  }
}

}  // namespace

Result<void> set_listen(Config& config, const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return make_error(Errc::invalid_argument, "listen address '" + listen + "' must be ADDR:PORT");
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535)
    return make_error(Errc::invalid_argument, "listen address '" + listen + "' has an invalid port");
  config.server.address = host;
  config.server.port = static_cast<std::uint16_t>(value);
  return ok();
}

Result<Config> load_config(const std::string& path) {
  Config config;
  Problems p{path, {}};
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return make_error(Errc::invalid_argument, "config '" + path + "': cannot be read");
  } catch (const YAML::Exception& e) {
    return make_error(Errc::invalid_argument,
                      path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (doc.IsNull()) return config;
  if (!doc.IsMap()) return make_error(Errc::invalid_argument, path + ": the config must be a mapping");
  check_keys(doc, "", {"listen", "root", "delete", "threads", "log", "limits"}, p);

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
  if (auto n = doc["threads"]) read_scalar(n, "threads", config.server.threads, p, "a number");
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
                 {"max_manifest_bytes", "max_connections", "idle_timeout_s", "io_timeout_s", "shutdown_grace_s",
                  "max_list_entries", "max_header_bytes"},
                 p);
      if (auto v = n["max_manifest_bytes"])
        read_at_least(v, "limits.max_manifest_bytes", 1, config.store.max_manifest_bytes, p, "a number of bytes");
      if (auto v = n["max_connections"])
        read_at_least(v, "limits.max_connections", 1, config.server.max_connections, p, "a number");
      if (auto v = n["max_list_entries"])
        read_at_least(v, "limits.max_list_entries", 1, config.api.max_list_entries, p, "a number");
      if (auto v = n["max_header_bytes"])
        read_at_least(v, "limits.max_header_bytes", 1024, config.server.max_header_bytes, p, "a number");
      if (auto v = n["idle_timeout_s"]) read_seconds(v, "limits.idle_timeout_s", config.server.idle_timeout, p);
      if (auto v = n["io_timeout_s"]) read_seconds(v, "limits.io_timeout_s", config.server.io_timeout, p);
      if (auto v = n["shutdown_grace_s"]) read_seconds(v, "limits.shutdown_grace_s", config.server.shutdown_grace, p);
    }
  }
  if (!p.list.empty()) {
    std::string message = "invalid config:";
    for (const auto& line : p.list) message += "\n  " + line;
    return make_error(Errc::invalid_argument, message);
  }
  return config;
}

}  // namespace rs::registry
