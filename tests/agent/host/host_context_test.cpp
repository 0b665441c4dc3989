#include "agent/host/host_context.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;

TEST_CASE("host context: backs up once per run, restores contents and modes, removes new files") {
  FakeHost h;
  write_text(h.at("/usr/local/bin/tool"), "old binary");
  std::filesystem::permissions(h.at("/usr/local/bin/tool"), std::filesystem::perms(0755));
  REQUIRE(h.ctx.write_file("/usr/local/bin/tool", "new binary", 0755).ok());
  REQUIRE(h.ctx.write_file("/usr/local/bin/tool", "newer binary", 0755).ok());
  REQUIRE(h.ctx.write_file("/etc/new.conf", "x", 0644).ok());
  CHECK_FALSE(h.ctx.unit_files_changed());
  // The backup holds the content from before the run, not the intermediate one.
  CHECK(read_text(h.at("/var/lib/registry-setup/backups/run1/usr/local/bin/tool")) == "old binary");
  CHECK_FALSE(std::filesystem::exists(h.at("/var/lib/registry-setup/backups/run1/etc/new.conf")));

  auto restored = h.ctx.restore_files();
  REQUIRE(restored.ok());
  CHECK(*restored == std::vector<std::string>{"/etc/new.conf", "/usr/local/bin/tool"});
  CHECK(read_text(h.at("/usr/local/bin/tool")) == "old binary");
  CHECK((std::filesystem::status(h.at("/usr/local/bin/tool")).permissions() & std::filesystem::perms::owner_exec) !=
        std::filesystem::perms::none);
  CHECK_FALSE(std::filesystem::exists(h.at("/etc/new.conf")));
  CHECK(h.ctx.written().empty());
  REQUIRE(h.ctx.write_file("/etc/systemd/system/x.service", "[Unit]\n", 0644).ok());
  CHECK(h.ctx.unit_files_changed());
}
