#include "lab/node.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace rs::lab;

TEST_CASE("a node boots with the flags measured in notes/lab.md") {
  auto plan = make_plan("demo", {{"host-a", "192.168.1.11"}});
  REQUIRE(plan.ok());
  LabPaths paths{"/run/registry-setup/lab/demo"};
  auto argv = nspawn_argv(plan->nodes[0], paths);
  REQUIRE_FALSE(argv.empty());
  CHECK(argv[0] == "systemd-nspawn");
  auto has = [&](const std::string& flag) { return std::find(argv.begin(), argv.end(), flag) != argv.end(); };
  for (const char* flag : {"--keep-unit", "--register=no", "--boot", "--notify-ready=yes", "--capability=all",
                           "--system-call-filter=@keyring", "--console=read-only", "--resolv-conf=off"})
    CHECK(has(flag));
  CHECK(has("--directory=/run/registry-setup/lab/demo/nodes/host-a/root"));
  CHECK(has("--network-namespace-path=/run/netns/rslab-demo.host-a"));
  CHECK(has("--machine=rslab-demo.host-a"));
  CHECK(has("--hostname=host-a"));
  CHECK(has("--bind=/run/registry-setup/lab/demo/nodes/host-a/docker:/var/lib/docker"));
  // A veth from nspawn would wait for udev, which does not run here.
  CHECK_FALSE(has("--network-veth"));
}

TEST_CASE("console colours are stripped for error messages") {
  CHECK(strip_colours("[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mbasic.target\x1b[0m.") ==
        "[  OK  ] Reached target basic.target.");
  CHECK(strip_colours("plain") == "plain");
  CHECK(strip_colours("\x1b[") == "\x1b[");
}
