#include "agent/modules/registry_service_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

TEST_CASE("registry_service: installs binary and unit, enables, starts, probes, then clean") {
  FakeHost h;
  TempDir src;
  write_text(src.path / "registry-setup", "#!binary v1");
  h.control.self_binary = (src.path / "registry-setup").string();
  std::vector<std::pair<std::string, int>> probes;
  h.control.probe_registry = [&](const std::string& host, int port) -> rs::Result<void> {
    probes.emplace_back(host, port);
    return rs::ok();
  };
  RegistryServiceConfig c;
  c.port = 5000;
  c.root = "/srv/registry";
  RegistryServiceAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 2);
  CHECK(diff->files[0].binary);
  REQUIRE(action.apply(h.ctx, *diff).ok());

  CHECK(read_text(h.at("/usr/local/bin/registry-setup")) == "#!binary v1");
  CHECK((std::filesystem::status(h.at("/usr/local/bin/registry-setup")).permissions() &
         std::filesystem::perms::owner_exec) != std::filesystem::perms::none);
  auto unit = read_text(h.at("/etc/systemd/system/registry-setup-registry.service"));
  CHECK_THAT(unit, Catch::Contains("Type=notify\n"));
  CHECK_THAT(unit, Catch::Contains("Restart=always\n"));
  // The server fits its connections under the open-file limit: room for 4096 of them.
  CHECK_THAT(unit, Catch::Contains("LimitNOFILE=65536\n"));
  CHECK_THAT(unit, Catch::Contains("ExecStart=/usr/local/bin/registry-setup serve --listen 0.0.0.0:5000 --root /srv/registry\n"));
  CHECK(h.systemd.reloads == 1);
  CHECK(h.systemd.enables == 1);
  CHECK(h.systemd.jobs == std::vector<std::string>{"start registry-setup-registry.service"});
  REQUIRE(probes.size() == 1);
  CHECK(probes[0] == std::make_pair(std::string("10.77.0.11"), 5000));
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  // A new binary (the digest is cached per path for a run, so a new run's binary is a new
  // path here) is copied again and the running service restarted.
  write_text(src.path / "registry-setup-v2", "#!binary v2");
  h.control.self_binary = (src.path / "registry-setup-v2").string();
  RegistryServiceAction upgrade(c);
  auto d2 = upgrade.check(h.ctx);
  REQUIRE(d2.ok());
  REQUIRE(d2->files.size() == 1);
  CHECK(d2->files[0].binary);
  REQUIRE(upgrade.apply(h.ctx, *d2).ok());
  CHECK(read_text(h.at("/usr/local/bin/registry-setup")) == "#!binary v2");
  CHECK(h.systemd.jobs.back() == "restart registry-setup-registry.service");
}

TEST_CASE("registry_service: a registry that does not answer GET /v2/ fails the task") {
  FakeHost h;
  TempDir src;
  write_text(src.path / "bin", "x");
  h.control.self_binary = (src.path / "bin").string();
  h.control.probe_registry = [](const std::string&, int) -> rs::Result<void> {
    return rs::make_error(rs::Errc::unavailable, "GET http://10.77.0.11:5000/v2/: Connection refused");
  };
  h.control.probe_attempts = 2;
  RegistryServiceConfig c;
  c.probe = true;
  RegistryServiceAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  auto r = action.apply(h.ctx, *diff);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("Connection refused"));
}
