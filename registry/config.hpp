// The server's configuration: YAML file, then command-line flags on top.
#pragma once

#include "core/result.hpp"
#include "registry/access.hpp"
#include "registry/api.hpp"
#include "registry/gc_scheduler.hpp"
#include "registry/htpasswd.hpp"
#include "registry/server.hpp"
#include "registry/store.hpp"
#include "registry/tls.hpp"
#include "registry/token_auth.hpp"
#include "registry/upload_purger.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rs::registry {

struct Config {
  std::string root = "/var/lib/registry";
  std::string log_level = "info";
  ServerOptions server;
  ApiOptions api;
  StoreOptions store;
  UploadPurgingOptions purging;
  GcScheduleOptions gc;                     // gc: off unless the section is given
  std::optional<HtpasswdOptions> htpasswd;  // auth.htpasswd; with no auth every request is let in
  std::optional<TokenOptions> token;        // auth.token: Bearer tokens (own or an issuer's)
  std::optional<AccessPolicy> access;       // access: none, and a user may do everything
  std::optional<TlsOptions> tls;            // http.tls: none, and the server speaks plain HTTP
  std::vector<std::string> warnings;        // keys ignored, each with where and why (serve logs them)
};

// What a config may ask for at most: beyond these a value is a mistake (and some overflowed).
inline constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
inline constexpr long long kMaxThreads = 256;
inline constexpr long long kMaxConnectionsLimit = 1 << 20;
inline constexpr long long kMaxManifestLimit = 64LL * 1024 * 1024;
inline constexpr long long kMaxListEntriesLimit = 1'000'000;
inline constexpr long long kMaxHeaderBytesLimit = 1024 * 1024;
inline constexpr long long kMaxBufferedBodyLimit = 64LL * 1024 * 1024 * 1024;
inline constexpr long long kMaxUploadsLimit = 1'000'000;
// Upload purging's age and interval: from a minute to ten years.
inline constexpr std::chrono::seconds kMinPurgeDuration = std::chrono::minutes(1);
inline constexpr std::chrono::seconds kMaxPurgeDuration = std::chrono::hours(87600);

// Parses "ADDR:PORT" into the server options: an IP literal ("[::1]:5000" for IPv6), a host
// name ("localhost:5000", kept as a name), or ":PORT" for every interface (registry:2's form).
// Checks only the form: nothing is looked up.
Result<void> set_listen(Config& config, const std::string& listen);

// Replaces a host name in the listen address with its first address (serve does this once,
// before listening; parsing never does, so reading a config asks no resolver).
Result<void> resolve_listen(Config& config);

// Whether only this machine can reach a (resolved) listen address: 127.0.0.0/8, ::1.
bool is_loopback_address(const std::string& address);

// Reads a YAML config file. Every problem is listed ("FILE:LINE: key 'x': ...") in one
// Errc::invalid_argument error.
//
//   listen: 0.0.0.0:5000
//   root: /var/lib/registry
//   delete: true                     # DELETE of blobs and manifests (default on)
//   threads: 0                       # I/O threads: 0 = one per core, at most 256
//   workers: 4                       # threads for the disk and hashing work of writes
//   log: {level: info, access: true}
//   limits: {max_manifest_bytes: 4194304, max_connections: 4096, max_connections_per_ip: 512,
//            max_buffered_body_bytes: 134217728, header_timeout_s: 10, idle_timeout_s: 60,
//            io_timeout_s: 60, buffered_body_timeout_s: 60, shutdown_grace_s: 10,
//            max_list_entries: 10000, max_header_bytes: 16384,
//            max_uploads_per_repository: 1000, max_uploads: 100000}
//   storage: {maintenance: {uploadpurging: {enabled: true, age: 168h, interval: 24h, dryrun: false}}}
//   gc: {interval: 24h, grace: 1h, delete_untagged: false, dryrun: false, lock_ttl: 1m}  # off without it
//   auth:
//     htpasswd: {realm: my-registry, path: /etc/registry/htpasswd}  # both required
//     token:                      # Bearer tokens (registry:2's keys, and two of ours)
//       realm: https://auth.example/token   # the token server (own server: default /auth/token here)
//       service: registry.example:5000      # required: tokens' audience
//       issuer: registry-setup              # required: tokens' issuer
//       rootcertbundle: /etc/registry/token-ca.pem  # an external issuer's certificates
//       signingkey: /etc/registry/token.key # ours: be the token server (needs htpasswd; made if missing)
//       expiration: 300                     # ours: seconds an issued token lasts (60..86400)
//   access:                       # grants (union of matching rules); needs this registry's users
//     groups: {developers: [alice, bob]}
//     rules:
//       - {repository: "public/**", anonymous: [pull]}
//       - {repository: "**", users: {alice: [pull, push, delete]}, groups: {developers: [pull, push]},
//          authenticated: [pull]}
// (auth: htpasswd and/or token; another method (silly, ldap) is an error, never served open;
// seconds at most a day; durations as registry:2 writes them, "168h", "30m", "1h30m", from
// a minute to 87600h (gc.interval from 1s, gc.grace from 0s, gc.lock_ttl from 5s); the file at most 1 MiB, keys plain and each set once).
// REGISTRY_* variables (registry:2's overrides), name and value.
using Environment = std::vector<std::pair<std::string, std::string>>;
// The REGISTRY_* variables of an environment block (environ).
Environment registry_environment(char** envp);

// registry:2's config.yml works too: version, http.addr, http.secret (ignored, warned),
// http.tls {certificate, key, clientcas, minimumtls: tls1.2|tls1.3},
// storage.filesystem.rootdirectory, storage.delete.enabled, log.level, log.accesslog,
// auth; the sections we do not serve are warned about (health, notifications, redis, ...)
// or refused where ignoring them would weaken security or misplace data (TLS below 1.2,
// http.tls.ciphersuites and letsencrypt, storage drivers other than filesystem,
// storage.maintenance.readonly, proxy). `environment` overrides keys as registry:2's
// REGISTRY_* variables do: REGISTRY_A_B_C sets a.b.c, for every key holding one value
// (REGISTRY_HTTP_ADDR, REGISTRY_HTTP_TLS_CERTIFICATE, REGISTRY_LIMITS_MAX_UPLOADS, ...; a
// list as "[a, b]"); one naming nothing known, or longer than 4 KiB, is a warning.
Result<Config> load_config(const std::string& path, const Environment& environment = {});
// The same for a config's text; `path` names it in problems.
Result<Config> parse_config(const std::string& text, const std::string& path, const Environment& environment = {});

}  // namespace rs::registry
