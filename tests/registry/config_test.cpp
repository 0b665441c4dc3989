#include "registry/config.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace rs::registry;

namespace {

rs::Result<Config> load(const rs::testing::TempDir& dir, const std::string& yaml) {
  const auto path = dir.path / "registry.yml";
  std::ofstream(path) << yaml;
  return load_config(path.string());
}

// The config is refused and the message says `expected`.
void refused(const rs::testing::TempDir& dir, const std::string& yaml, const std::string& expected) {
  INFO(yaml);
  auto c = load(dir, yaml);
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.error().message, Catch::Contains(expected));
}

}  // namespace

TEST_CASE("the limits reach the options of the layer that keeps them") {
  rs::testing::TempDir dir;
  auto c = load(dir, "limits: {max_manifest_bytes: 1000, max_list_entries: 7, max_connections: 3}\n");
  REQUIRE(c.ok());
  CHECK(c->store.max_manifest_bytes == 1000);
  CHECK(c->api.max_list_entries == 7);
  CHECK(c->server.max_connections == 3);
}

TEST_CASE("without a config the store keeps today's limits") {
  rs::testing::TempDir dir;
  auto c = load(dir, "");
  REQUIRE(c.ok());
  CHECK(c->store.max_manifest_bytes == 4 * 1024 * 1024);
  CHECK(c->store.manifest_cache_bytes == 16 * 1024 * 1024);
  CHECK(c->store.max_link_bytes == 256);
}

TEST_CASE("every bad limit is listed with its line") {
  rs::testing::TempDir dir;
  auto c = load(dir, "limits:\n  max_manifest_bytes: 0\n  max_list_entries: x\n");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:2: key 'limits.max_manifest_bytes': must be positive"));
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:3: key 'limits.max_list_entries'"));
}

TEST_CASE("a config that is a directory, too large or unreadable is an error, not an abort") {
  rs::testing::TempDir dir;
  auto d = load_config(dir.path.string());
  REQUIRE_FALSE(d.ok());
  CHECK_THAT(d.error().message, Catch::Contains("not a regular file"));
  CHECK_FALSE(load_config((dir.path / "absent.yml").string()).ok());
  auto big = load(dir, "root: /x\n# " + std::string(kMaxConfigBytes, 'x') + "\n");
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().message, Catch::Contains("larger than"));
}

TEST_CASE("values beyond the documented bounds are listed with their lines") {
  rs::testing::TempDir dir;
  auto c = load(dir, "threads: 100000\nlimits:\n  idle_timeout_s: 9300000000\n  max_connections: 99999999\n");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:1: key 'threads': must be at most 256"));
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:3: key 'limits.idle_timeout_s': must be at most 86400"));
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:4: key 'limits.max_connections': must be at most"));
}

TEST_CASE("a key that is a list, or a key set twice, is listed, not an abort") {
  rs::testing::TempDir dir;
  auto c = load(dir, "? [a]\n: 1\nroot: /a\nroot: /b\n");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:1: key '': a key must be a plain value"));
  CHECK_THAT(c.error().message, Catch::Contains("registry.yml:4: key 'root': set twice in one mapping (first at line 3)"));
}

TEST_CASE("listen takes IP literals, host names and registry:2's :PORT") {
  Config c;
  REQUIRE(set_listen(c, "localhost:5000").ok());
  CHECK(c.server.address == "localhost");
  CHECK(c.server.port == 5000);
  // Looked up once, by serve, before it listens (localhost is in /etc/hosts).
  REQUIRE(resolve_listen(c).ok());
  CHECK((c.server.address == "127.0.0.1" || c.server.address == "::1"));
  REQUIRE(set_listen(c, ":5001").ok());
  CHECK(c.server.address == "0.0.0.0");
  REQUIRE(set_listen(c, "[::1]:5002").ok());
  CHECK(c.server.address == "::1");
  // Each a configuration error, found before anything listens.
  for (const char* bad : {"nope", "999.1.1.1:5000", "a b:5000", "127.0.0.1:70000", "1.2.3:5000"}) {
    INFO(bad);
    CHECK_FALSE(set_listen(c, bad).ok());
  }
}

TEST_CASE("upload purging takes registry:2's keys and durations") {
  rs::testing::TempDir dir;
  auto defaults = load(dir, "");
  REQUIRE(defaults.ok());
  CHECK(defaults->purging.enabled);
  CHECK(defaults->purging.age == std::chrono::hours(168));
  CHECK(defaults->purging.interval == std::chrono::hours(24));
  CHECK_FALSE(defaults->purging.dry_run);

  auto c = load(dir,
                "storage:\n  maintenance:\n    uploadpurging:\n      enabled: false\n      age: 1h30m\n"
                "      interval: 90s\n      dryrun: true\n");
  REQUIRE(c.ok());
  CHECK_FALSE(c->purging.enabled);
  CHECK(c->purging.age == std::chrono::seconds(5400));
  CHECK(c->purging.interval == std::chrono::seconds(90));
  CHECK(c->purging.dry_run);
  CHECK(load(dir, "storage: {maintenance: {uploadpurging: {age: 30m}}}\n")->purging.age == std::chrono::minutes(30));
}

TEST_CASE("every bad upload purging value is listed with its line") {
  rs::testing::TempDir dir;
  auto c = load(dir,
                "storage:\n  maintenance:\n    uploadpurging:\n      enabled: sometimes\n      age: 168\n"
                "      interval: 30s\n      dryrun: false\n      every: 1h\n    readonly: {enabled: true}\n"
                "  cachex: {}\n");
  REQUIRE_FALSE(c.ok());
  const std::string& m = c.error().message;
  CHECK_THAT(m, Catch::Contains("registry.yml:4: key 'storage.maintenance.uploadpurging.enabled': expected true or false"));
  CHECK_THAT(m, Catch::Contains("registry.yml:5: key 'storage.maintenance.uploadpurging.age': expected a duration such as 168h"));
  CHECK_THAT(m, Catch::Contains("registry.yml:6: key 'storage.maintenance.uploadpurging.interval': must be at least 1m"));
  CHECK_THAT(m, Catch::Contains("registry.yml:8: key 'storage.maintenance.uploadpurging.every': unknown key"));
  CHECK_THAT(m, Catch::Contains("registry.yml:9: key 'storage.maintenance.readonly': not supported (refusing to start rather than accept writes)"));
  CHECK_THAT(m, Catch::Contains("registry.yml:10: key 'storage.cachex': unknown key"));
  for (const char* bad : {"1d", "h", "1h30", "-1h", "1.5h", "500ms", "''", "87601h", "99999999999999999999h"}) {
    INFO(bad);
    auto b = load(dir, std::string("storage: {maintenance: {uploadpurging: {age: ") + bad + "}}}\n");
    REQUIRE_FALSE(b.ok());
    CHECK_THAT(b.error().message, Catch::Contains("registry.yml:1: key 'storage.maintenance.uploadpurging.age'"));
  }
  CHECK_THAT(load(dir, "storage: {maintenance: {uploadpurging: []}}\n").error().message,
             Catch::Contains("key 'storage.maintenance.uploadpurging': expected a mapping"));
}

TEST_CASE("the caps on open uploads are limits, bounded") {
  rs::testing::TempDir dir;
  auto defaults = load(dir, "");
  REQUIRE(defaults.ok());
  CHECK(defaults->store.max_uploads_per_repository == 1000);
  CHECK(defaults->store.max_uploads == 100000);
  auto c = load(dir, "limits: {max_uploads_per_repository: 5, max_uploads: 50}\n");
  REQUIRE(c.ok());
  CHECK(c->store.max_uploads_per_repository == 5);
  CHECK(c->store.max_uploads == 50);
  auto bad = load(dir, "limits:\n  max_uploads_per_repository: 0\n  max_uploads: 1000001\n");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("registry.yml:2: key 'limits.max_uploads_per_repository': must be positive"));
  CHECK_THAT(bad.error().message, Catch::Contains("registry.yml:3: key 'limits.max_uploads': must be at most 1000000"));
}

TEST_CASE("a manifest limit above 4 MiB reaches the store") {
  rs::testing::TempDir dir;
  auto c = load(dir, "limits: {max_manifest_bytes: 6291456}\n");
  REQUIRE(c.ok());
  CHECK(c->store.max_manifest_bytes == 6291456);
}

TEST_CASE("auth.htpasswd: realm and path reach the config") {
  rs::testing::TempDir dir;
  auto c = load(dir, "auth:\n  htpasswd:\n    realm: my registry\n    path: /etc/registry/htpasswd\n");
  REQUIRE(c.ok());
  REQUIRE(c->htpasswd);
  CHECK(c->htpasswd->realm == "my registry");
  CHECK(c->htpasswd->path == "/etc/registry/htpasswd");
  auto none = load(dir, "root: /x\n");
  REQUIRE(none.ok());
  CHECK_FALSE(none->htpasswd);
}

TEST_CASE("auth we cannot honour is refused with its line, never served open") {
  rs::testing::TempDir dir;
  auto jwks = load(dir, "root: /x\nauth:\n  token: {realm: 'https://a/t', service: s, issuer: i, rootcertbundle: /b,\n"
                        "          jwks: /j}\n");
  REQUIRE_FALSE(jwks.ok());
  CHECK_THAT(jwks.error().message, Catch::Contains("registry.yml:4: key 'auth.token.jwks': not supported"));
  auto silly = load(dir, "auth: {silly: {realm: x}}\n");
  REQUIRE_FALSE(silly.ok());
  CHECK_THAT(silly.error().message, Catch::Contains("key 'auth.silly': not supported"));
  auto other = load(dir, "auth:\n  htpasswd: {realm: r, path: /p}\n  ldap: {}\n");
  REQUIRE_FALSE(other.ok());
  CHECK_THAT(other.error().message, Catch::Contains("registry.yml:3: key 'auth.ldap': unknown key"));
  for (const char* empty : {"auth:\n", "auth: {}\n", "auth: yes\n"}) {
    auto e = load(dir, empty);
    INFO(empty);
    REQUIRE_FALSE(e.ok());
    CHECK_THAT(e.error().message, Catch::Contains("key 'auth': expected a mapping with htpasswd"));
  }
}

TEST_CASE("auth.token: an external issuer's keys, or this registry's own token server") {
  rs::testing::TempDir dir;
  auto external = load(dir,
                       "auth:\n  token:\n    realm: https://auth.example/token\n    service: reg.example:5000\n"
                       "    issuer: auth.example\n    rootcertbundle: /etc/registry/token-ca.pem\n");
  REQUIRE(external.ok());
  REQUIRE(external->token);
  CHECK(external->token->realm == "https://auth.example/token");
  CHECK(external->token->service == "reg.example:5000");
  CHECK(external->token->issuer == "auth.example");
  CHECK(external->token->rootcertbundle == "/etc/registry/token-ca.pem");
  CHECK(external->token->signingkey.empty());
  CHECK_FALSE(external->htpasswd);
  auto own = load(dir,
                  "auth:\n  htpasswd: {realm: r, path: /p}\n  token: {service: s, issuer: i, signingkey: /k, "
                  "expiration: 600}\n");
  REQUIRE(own.ok());
  REQUIRE(own->token);
  CHECK(own->token->realm.empty());
  CHECK(own->token->signingkey == "/k");
  CHECK(own->token->expiration == std::chrono::seconds(600));
  REQUIRE(own->htpasswd);
}

TEST_CASE("auth.token's mistakes are listed: what is missing, and combinations that cannot work") {
  rs::testing::TempDir dir;
  auto check = [&](const std::string& yaml, const std::string& expected) { refused(dir, yaml, expected); };
  check("auth:\n  token: {realm: 'https://a/t', issuer: i, rootcertbundle: /b}\n", "key 'auth.token.service': is required");
  check("auth:\n  token: {realm: 'https://a/t', service: s, rootcertbundle: /b}\n", "key 'auth.token.issuer': is required");
  check("auth:\n  token: {realm: 'https://a/t', service: s, issuer: i}\n", "needs rootcertbundle");
  check("auth:\n  token: {service: s, issuer: i, rootcertbundle: /b}\n", "key 'auth.token.realm': is required");
  check("auth:\n  token: {realm: 'ftp://a', service: s, issuer: i, rootcertbundle: /b}\n", "must be an http:// or https:// URL");
  check("auth:\n  token: {service: s, issuer: i, signingkey: /k}\n", "key 'auth.token.signingkey': needs auth.htpasswd");
  check("auth:\n  htpasswd: {realm: r, path: /p}\n  token: {realm: 'https://a/t', service: s, issuer: i, rootcertbundle: /b}\n",
        "registry.yml:3: key 'auth.token': with auth.htpasswd beside it needs signingkey");
  check("auth:\n  htpasswd: {realm: r, path: /p}\n  token: {service: s, issuer: i, signingkey: /k, expiration: 30}\n",
        "key 'auth.token.expiration': must be at least 60");
  check("auth:\n  token: {service: s, issuer: i, signingkey: /k, lifetime: 5}\n", "key 'auth.token.lifetime': unknown key");
}

TEST_CASE("access: groups and rules reach the policy") {
  rs::testing::TempDir dir;
  auto c = load(dir,
                "auth: {htpasswd: {realm: r, path: /p}}\n"
                "access:\n"
                "  groups: {developers: [alice, bob]}\n"
                "  rules:\n"
                "    - {repository: 'public/**', anonymous: [pull], authenticated: [pull, push]}\n"
                "    - {repository: 'team/*', users: {carol: [pull, delete]}, groups: {developers: [pull, push]}}\n");
  REQUIRE(c.ok());
  REQUIRE(c->access);
  const AccessPolicy& a = *c->access;
  CHECK(a.grants_anonymous());
  CHECK(a.granted(std::nullopt, "public/x/y") == kPull);
  CHECK(a.granted(std::string("zed"), "public/x") == (kPull | kPush));
  CHECK(a.granted(std::string("bob"), "team/app") == (kPull | kPush));
  CHECK(a.granted(std::string("carol"), "team/app") == (kPull | kDelete));
  CHECK(a.granted(std::string("carol"), "team/app/sub") == 0);
  CHECK(a.granted(std::nullopt, "team/app") == 0);
}

TEST_CASE("access: every mistake listed with its line, and never without users") {
  rs::testing::TempDir dir;
  auto check = [&](const std::string& yaml, const std::string& expected) {
    refused(dir, "auth: {htpasswd: {realm: r, path: /p}}\n" + yaml, expected);
  };
  check("access: {rules: [{repository: 'a/**', users: {bob: [pull, write]}}]}\n",
        "key 'access.rules[0].users.bob': 'write' is not an action");
  check("access:\n  rules:\n    - {repository: 'a/**', groups: {ops: [pull]}}\n",
        "registry.yml:4: key 'access.rules[0].groups.ops': no such group in access.groups");
  check("access: {rules: [{repository: 'a**b'}]}\n", "key 'access.rules[0].repository': the pattern has '**' inside a segment");
  check("access: {rules: [{anonymous: [pull]}]}\n", "key 'access.rules[0].repository': is required");
  check("access: {rules: [{repository: x, everyone: [pull]}]}\n", "key 'access.rules[0].everyone': unknown key");
  check("access: {groups: {devs: alice}, rules: []}\n", "key 'access.groups.devs': expected a list of users");
  check("access: {}\n", "key 'access.rules': is required");
  check("access: {rules: [{repository: x, users: {'a:b': [pull]}}]}\n", "is not a user name");
  auto open = load(dir, "access: {rules: [{repository: '**', anonymous: [pull]}]}\n");
  REQUIRE_FALSE(open.ok());
  CHECK_THAT(open.error().message, Catch::Contains("key 'access': needs auth.htpasswd"));
}

TEST_CASE("auth.htpasswd needs realm and path, both non-empty, and nothing else") {
  rs::testing::TempDir dir;
  auto no_realm = load(dir, "auth:\n  htpasswd:\n    path: /p\n");
  REQUIRE_FALSE(no_realm.ok());
  CHECK_THAT(no_realm.error().message, Catch::Contains("key 'auth.htpasswd.realm': is required"));
  auto no_path = load(dir, "auth:\n  htpasswd: {realm: r}\n");
  REQUIRE_FALSE(no_path.ok());
  CHECK_THAT(no_path.error().message, Catch::Contains("registry.yml:2: key 'auth.htpasswd.path': is required"));
  auto empty = load(dir, "auth:\n  htpasswd: {realm: r, path: ''}\n");
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message, Catch::Contains("key 'auth.htpasswd.path': is empty"));
  auto extra = load(dir, "auth:\n  htpasswd: {realm: r, path: /p, cost: 10}\n");
  REQUIRE_FALSE(extra.ok());
  CHECK_THAT(extra.error().message, Catch::Contains("key 'auth.htpasswd.cost': unknown key"));
  auto list = load(dir, "auth:\n  htpasswd: [a]\n");
  REQUIRE_FALSE(list.ok());
}

TEST_CASE("loopback addresses: only those serve without the open-registry warning") {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1"}) {
    INFO(a);
    CHECK(is_loopback_address(a));
  }
  for (const char* a : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::ffff:10.0.0.1", "192.168.1.127", "localhost", ""}) {
    INFO(a);
    CHECK_FALSE(is_loopback_address(a));
  }
}

TEST_CASE("registry:2's config.yml as is: its keys reach ours, what we ignore is warned about") {
  rs::testing::TempDir dir;
  auto c = load(dir,
                "version: 0.1\n"
                "log:\n  level: warning\n  formatter: text\n  fields: {service: registry}\n  accesslog: {disabled: true}\n"
                "storage:\n  filesystem:\n    rootdirectory: /srv/registry\n  delete:\n    enabled: false\n"
                "  cache:\n    blobdescriptor: inmemory\n"
                "http:\n  addr: :5001\n  secret: asecretforlocaldevelopment\n  headers:\n    X-Content-Type-Options: [nosniff]\n"
                "health:\n  storagedriver: {enabled: true, interval: 10s, threshold: 3}\n"
                "auth:\n  htpasswd: {realm: basic-realm, path: /auth/htpasswd}\n");
  REQUIRE(c.ok());
  CHECK(c->root == "/srv/registry");
  CHECK_FALSE(c->api.delete_enabled);
  CHECK(c->server.address == "0.0.0.0");
  CHECK(c->server.port == 5001);
  CHECK(c->log_level == "warn");
  CHECK_FALSE(c->server.access_log);
  REQUIRE(c->htpasswd);
  std::string all;
  for (const auto& w : c->warnings) all += w + "\n";
  INFO(all);
  CHECK(c->warnings.size() == 6);
  CHECK_THAT(all, Catch::Contains("registry.yml:4: key 'log.formatter': ignored"));
  CHECK_THAT(all, Catch::Contains("key 'log.fields': ignored"));
  CHECK_THAT(all, Catch::Contains("key 'storage.cache': ignored"));
  CHECK_THAT(all, Catch::Contains("key 'http.secret': ignored: no upload state is handed to clients here"));
  CHECK_THAT(all, Catch::Contains("key 'http.headers': ignored"));
  CHECK_THAT(all, Catch::Contains("key 'health': ignored"));
}

TEST_CASE("registry:2 keys that would weaken security or misplace data are refused") {
  rs::testing::TempDir dir;
  auto check = [&](const std::string& yaml, const std::string& expected) { refused(dir, yaml, expected); };
  check("storage: {s3: {bucket: b}}\n", "key 'storage.s3': storage driver not supported");
  check("proxy: {remoteurl: https://registry-1.docker.io}\n", "key 'proxy': a pull-through cache is not supported yet");
  check("version: 0.2\n", "key 'version': must be 0.1");
  check("listen: 127.0.0.1:5000\nhttp: {addr: :5001}\n", "key 'http.addr': set twice: also given as listen");
  check("root: /a\nstorage: {filesystem: {rootdirectory: /b}}\n", "set twice: also given as root");
  check("http: {net: unix, addr: /run/r.sock}\n", "key 'http.net': only tcp is supported");
}

TEST_CASE("REGISTRY_* variables override the file's keys, as registry:2's do") {
  rs::testing::TempDir dir;
  const auto path = (dir.path / "registry.yml").string();
  std::ofstream(path) << "listen: 127.0.0.1:5000\nstorage: {filesystem: {rootdirectory: /from/file}}\n";
  auto c = load_config(path, {{"REGISTRY_HTTP_ADDR", "127.0.0.2:6000"},
                              {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/from/env"},
                              {"REGISTRY_STORAGE_DELETE_ENABLED", "false"},
                              {"REGISTRY_AUTH_HTPASSWD_REALM", "env realm"},
                              {"REGISTRY_AUTH_HTPASSWD_PATH", "/env/htpasswd"},
                              {"REGISTRY_AUTH_FILE", "/root/auth.json"}});
  REQUIRE(c.ok());
  CHECK(c->server.address == "127.0.0.2");
  CHECK(c->server.port == 6000);
  CHECK(c->root == "/from/env");
  CHECK_FALSE(c->api.delete_enabled);
  REQUIRE(c->htpasswd);
  CHECK(c->htpasswd->realm == "env realm");
  CHECK(c->htpasswd->path == "/env/htpasswd");
  REQUIRE(c->warnings.size() == 1);
  CHECK_THAT(c->warnings[0], Catch::Contains("REGISTRY_AUTH_FILE ignored"));
  // Without a file, and a bad value named by where it came from.
  auto bad = parse_config("", "(none)", {{"REGISTRY_STORAGE_DELETE_ENABLED", "perhaps"}});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("environment: key 'storage.delete.enabled': expected true or false"));
}

TEST_CASE("http.tls: registry:2's keys reach the TLS options") {
  rs::testing::TempDir dir;
  auto c = load(dir,
                "http:\n  addr: :5443\n  tls:\n    certificate: /etc/r/cert.pem\n    key: /etc/r/key.pem\n"
                "    clientcas:\n      - /etc/r/ca1.pem\n      - /etc/r/ca2.pem\n    minimumtls: tls1.3\n");
  REQUIRE(c.ok());
  REQUIRE(c->tls);
  CHECK(c->tls->certificate == "/etc/r/cert.pem");
  CHECK(c->tls->key == "/etc/r/key.pem");
  CHECK(c->tls->client_cas == std::vector<std::string>{"/etc/r/ca1.pem", "/etc/r/ca2.pem"});
  CHECK(c->tls->minimum == TlsVersion::tls13);
  CHECK(c->warnings.empty());
  // The defaults: TLS 1.2 at least, no client certificates.
  auto plain = load(dir, "http: {tls: {certificate: /c.pem, key: /k.pem}}\n");
  REQUIRE(plain.ok());
  REQUIRE(plain->tls);
  CHECK(plain->tls->minimum == TlsVersion::tls12);
  CHECK(plain->tls->client_cas.empty());
  // No http.tls: plain HTTP.
  auto none = load(dir, "http: {addr: :5000}\n");
  REQUIRE(none.ok());
  CHECK_FALSE(none->tls);
}

TEST_CASE("http.tls: what cannot be honoured is refused, every problem listed") {
  rs::testing::TempDir dir;
  auto check = [&](const std::string& yaml, const std::string& expected) { refused(dir, yaml, expected); };
  check("http: {tls: {certificate: /c.pem, key: /k.pem, minimumtls: tls1.1}}\n",
        "key 'http.tls.minimumtls': 'tls1.1' is not supported: TLS 1.0 and 1.1 are broken");
  check("http: {tls: {certificate: /c.pem, key: /k.pem, minimumtls: tls1.0}}\n", "'tls1.0' is not supported");
  check("http: {tls: {certificate: /c.pem, key: /k.pem, minimumtls: ssl3}}\n", "expected tls1.2 or tls1.3, got 'ssl3'");
  check("http: {tls: {key: /k.pem}}\n", "key 'http.tls.certificate': is required");
  check("http: {tls: {certificate: /c.pem}}\n", "key 'http.tls.key': is required");
  check("http: {tls: {certificate: '', key: /k.pem}}\n", "key 'http.tls.certificate': is empty");
  check("http: {tls: yes}\n", "key 'http.tls': expected a mapping with certificate and key");
  check("http: {tls: {certificate: /c.pem, key: /k.pem, clientcas: []}}\n", "key 'http.tls.clientcas': expected a list");
  check("http: {tls: {certificate: /c.pem, key: /k.pem, clientcas: [{a: b}]}}\n", "key 'http.tls.clientcas': expected a PEM file");
  check("http: {tls: {certificate: /c.pem, key: /k.pem, ciphersuites: [TLS_AES_128_GCM_SHA256]}}\n",
        "key 'http.tls.ciphersuites': not supported");
  check("http: {tls: {letsencrypt: {cachefile: /c, email: a@b}}}\n", "key 'http.tls.letsencrypt': not supported: no ACME");
  check("http: {tls: {certificate: /c.pem, key: /k.pem, clientauth: x}}\n", "key 'http.tls.clientauth': unknown key");
  // All of them at once, each with its line.
  auto many = load(dir, "http:\n  tls:\n    minimumtls: tls1.1\n    ciphersuites: [x]\n");
  REQUIRE_FALSE(many.ok());
  CHECK_THAT(many.error().message, Catch::Contains("registry.yml:3: key 'http.tls.minimumtls'"));
  CHECK_THAT(many.error().message, Catch::Contains("registry.yml:4: key 'http.tls.ciphersuites'"));
  CHECK_THAT(many.error().message, Catch::Contains("key 'http.tls.certificate': is required"));
}

TEST_CASE("REGISTRY_HTTP_TLS_* set TLS, also without a file") {
  auto c = parse_config("", "(none)",
                        {{"REGISTRY_HTTP_TLS_CERTIFICATE", "/env/cert.pem"},
                         {"REGISTRY_HTTP_TLS_KEY", "/env/key.pem"},
                         {"REGISTRY_HTTP_TLS_CLIENTCAS", "[/env/ca1.pem, /env/ca2.pem]"},
                         {"REGISTRY_HTTP_TLS_MINIMUMTLS", "tls1.3"}});
  REQUIRE(c.ok());
  REQUIRE(c->tls);
  CHECK(c->tls->certificate == "/env/cert.pem");
  CHECK(c->tls->key == "/env/key.pem");
  CHECK(c->tls->client_cas == std::vector<std::string>{"/env/ca1.pem", "/env/ca2.pem"});
  CHECK(c->tls->minimum == TlsVersion::tls13);
  // One CA file alone, as a plain value.
  auto one = parse_config("http: {tls: {certificate: /c.pem, key: /k.pem}}\n", "(f)",
                          {{"REGISTRY_HTTP_TLS_CLIENTCAS", "/env/ca.pem"}});
  REQUIRE(one.ok());
  CHECK(one->tls->client_cas == std::vector<std::string>{"/env/ca.pem"});
  // A variable's bad value is an error like the file's, named by where it came from.
  auto old = parse_config("http: {tls: {certificate: /c.pem, key: /k.pem}}\n", "(f)",
                          {{"REGISTRY_HTTP_TLS_MINIMUMTLS", "tls1.0"}});
  REQUIRE_FALSE(old.ok());
  CHECK_THAT(old.error().message, Catch::Contains("environment: key 'http.tls.minimumtls': 'tls1.0' is not supported"));
}

TEST_CASE("REGISTRY_A_B_C reaches every scalar key, ours too; the other spelling gives way") {
  rs::testing::TempDir dir;
  const auto path = (dir.path / "registry.yml").string();
  std::ofstream(path) << "http: {addr: 127.0.0.1:5000}\nroot: /from/file\nlimits: {max_connections: 10}\n";
  auto c = load_config(path, {{"REGISTRY_LISTEN", "127.0.0.3:7000"},
                              {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/from/env"},
                              {"REGISTRY_LIMITS_MAX_CONNECTIONS", "20"},
                              {"REGISTRY_LIMITS_HEADER_TIMEOUT_S", "5"},
                              {"REGISTRY_LOG_LEVEL", "debug"},
                              {"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "2h"},
                              {"REGISTRY_AUTH_TOKEN_SERVICE", "svc"},
                              {"REGISTRY_AUTH_TOKEN_ISSUER", "iss"},
                              {"REGISTRY_AUTH_TOKEN_REALM", "https://auth.example/token"},
                              {"REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE", "/env/bundle.pem"}});
  REQUIRE(c.ok());
  CHECK(c->server.address == "127.0.0.3");
  CHECK(c->server.port == 7000);
  CHECK(c->root == "/from/env");
  CHECK(c->server.max_connections == 20);
  CHECK(c->server.header_timeout == std::chrono::seconds(5));
  CHECK(c->log_level == "debug");
  CHECK(c->purging.age == std::chrono::hours(2));
  REQUIRE(c->token);
  CHECK(c->token->service == "svc");
  CHECK(c->token->rootcertbundle == "/env/bundle.pem");
  CHECK(c->warnings.empty());
  // Names of nothing, and absurd values: warned about and ignored, the name cut short.
  auto w = parse_config("", "(none)",
                        {{"REGISTRY_HTTP_TLS", "x"},
                         {"REGISTRY_" + std::string(300, 'X'), "x"},
                         {"REGISTRY_HTTP_ADDR", std::string(5000, '1')}});
  REQUIRE(w.ok());
  REQUIRE(w->warnings.size() == 3);
  CHECK_THAT(w->warnings[0], Catch::Contains("REGISTRY_HTTP_TLS ignored (no such setting here)"));
  CHECK(w->warnings[1].size() < 200);
  CHECK_THAT(w->warnings[2], Catch::Contains("REGISTRY_HTTP_ADDR ignored (longer than 4096 bytes)"));
  CHECK(w->server.port == 5000);
  // A variable below a key the file made a plain value: warned about, the file's error stays.
  auto blocked = parse_config("http: plain\n", "(f)", {{"REGISTRY_HTTP_ADDR", "127.0.0.1:1"}});
  REQUIRE_FALSE(blocked.ok());
  CHECK_THAT(blocked.error().message, Catch::Contains("key 'http': expected a mapping"));
}

TEST_CASE("gc and retention: the schedule and the rules, every mistake refused") {
  rs::testing::TempDir dir;
  auto config = parse_config(
      "gc: {interval: 30m, grace: 0s, delete_untagged: true, lock_ttl: 10s}\n"
      "retention:\n"
      "  - {repository: \"ci/**\", keep_last: 3, older_than: 720h, keep: [latest, \"v*\"]}\n"
      "  - {repository: \"**\", older_than: 2160h}\n",
      "gc.yml");
  REQUIRE(config.ok());
  CHECK(config->gc.enabled);
  CHECK(config->gc.interval == std::chrono::minutes(30));
  CHECK(config->gc.grace == std::chrono::seconds(0));
  CHECK(config->gc.delete_untagged);
  CHECK(config->gc.lock_ttl == std::chrono::seconds(10));
  REQUIRE(config->gc.retention.size() == 2);
  CHECK(config->gc.retention[0].keep_last == 3u);
  CHECK(config->gc.retention[0].older_than == std::chrono::hours(720));
  CHECK(config->gc.retention[0].keep == std::vector<std::string>{"latest", "v*"});
  CHECK_FALSE(config->gc.retention[1].keep_last.has_value());
  CHECK_FALSE(parse_config("root: /r\n", "plain.yml")->gc.enabled);  // off without the section

  auto check = [&](const std::string& yaml, const std::string& expected) { refused(dir, yaml, expected); };
  check("gc: {interval: 0s}\n", "gc.interval': must be at least 1s");
  check("gc: {grace: soon}\n", "gc.grace': expected a duration");
  check("gc: {lock_ttl: 1s}\n", "gc.lock_ttl': must be at least 5s");
  check("gc: {sweep: now}\n", "gc.sweep': unknown key");
  check("gc: [1]\n", "'gc': expected a mapping");
  check("retention: {repository: x}\n", "expected a list of rules");
  check("retention: [{keep_last: 1}]\n", "needs repository");
  check("retention: [{repository: x}]\n", "needs keep_last or older_than");
  check("retention: [{repository: \"a**b\", keep_last: 1}]\n", "retention[0].repository': the pattern");
  check("retention: [{repository: x, keep_last: -1}]\n", "keep_last': must be at least 0");
  check("retention: [{repository: x, older_than: 0s}]\n", "older_than': must be at least 1s");
  check("retention: [{repository: x, keep_last: 1, keep: v1}]\n", "keep': expected a list");
  check("retention: [{repository: x, keep_last: 1, drop: all}]\n", "retention[0].drop': unknown key");
}
