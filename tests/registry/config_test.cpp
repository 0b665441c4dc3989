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
