#include "lab/state.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

using namespace rs::lab;

TEST_CASE("the state survives a round trip through JSON") {
  LabState s;
  s.name = "demo";
  s.phase = "up";
  s.inventory = "examples/two-host/inventory.yml";
  s.rootfs = "/var/cache/registry-setup/rootfs-bookworm";
  s.switch_netns = "rslab-demo_switch";
  s.controller_netns = "rslab-demo_controller";
  s.controller_address = "192.168.1.254";
  s.created_at = 1700000000;
  s.netns = {"rslab-demo_switch", "rslab-demo_controller", "rslab-demo.host-a"};
  s.nodes.push_back(NodeState{"host-a", "192.168.1.11", "rslab-demo.host-a", 100, 12345, 101, 12346, true});
  s.nodes.push_back(NodeState{"host-b", "192.168.1.12", "rslab-demo.host-b", 0, 0, 0, 0, false});
  auto back = state_from_json(state_to_json(s));
  REQUIRE(back.ok());
  CHECK(back->name == "demo");
  CHECK(back->phase == "up");
  CHECK(back->controller_address == "192.168.1.254");
  CHECK(back->created_at == 1700000000);
  CHECK(back->netns == s.netns);
  REQUIRE(back->nodes.size() == 2);
  const NodeState* a = back->node("host-a");
  REQUIRE(a);
  CHECK(a->nspawn_pid == 100);
  CHECK(a->nspawn_start == 12345);
  CHECK(a->leader_pid == 101);
  CHECK(a->leader_start == 12346);
  CHECK(a->mounted);
  CHECK_FALSE(back->node("host-b")->mounted);
  CHECK_FALSE(back->node("host-c"));
}

TEST_CASE("a damaged state is an error, not a crash") {
  CHECK_FALSE(state_from_json("").ok());
  CHECK_FALSE(state_from_json("{}").ok());
  CHECK_FALSE(state_from_json("{\"name\": 3}").ok());
}

TEST_CASE("state files are written and read under RS_LAB_RUN_DIR") {
  rs::testing::TempDir temp;
  const auto& dir = temp.path;
  std::filesystem::create_directories(dir / "t");
  ::setenv("RS_LAB_RUN_DIR", dir.c_str(), 1);
  LabPaths paths = LabPaths::of("t");
  CHECK(paths.dir == (dir / "t").string());
  CHECK(paths.node_root("host-a") == (dir / "t" / "nodes" / "host-a" / "root").string());
  auto missing = read_state(paths);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == rs::Errc::not_found);
  LabState s;
  s.name = "t";
  s.phase = "starting";
  s.switch_netns = "sw";
  s.controller_netns = "ctl";
  REQUIRE(write_state(paths, s).ok());
  auto back = read_state(paths);
  REQUIRE(back.ok());
  CHECK(back->phase == "starting");
  ::unsetenv("RS_LAB_RUN_DIR");
}
