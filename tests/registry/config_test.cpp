#include "registry/config.hpp"

#include "temp_dir.hpp"

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
