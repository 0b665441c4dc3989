#include "lab/files.hpp"

#include <catch2/catch.hpp>

using namespace rs::lab;

namespace {

LabPlan two_hosts() {
  auto plan = make_plan("demo", {{"host-a", "192.168.1.11"}, {"host-b", "192.168.1.12"}});
  REQUIRE(plan.ok());
  return *plan;
}

}  // namespace

TEST_CASE("every node's /etc/hosts names every node") {
  auto text = hosts_text(two_hosts());
  CHECK(text.find("127.0.0.1\tlocalhost\n") != std::string::npos);
  CHECK(text.find("192.168.1.11\thost-a\n") != std::string::npos);
  CHECK(text.find("192.168.1.12\thost-b\n") != std::string::npos);
}

TEST_CASE("DOCKER_OPTS cannot break out of its quotes") {
  CHECK(docker_defaults_text("--ip-forward=false") ==
        "# Written by registry-setup lab\nDOCKER_OPTS=\"--ip-forward=false\"\n");
  auto text = docker_defaults_text("a\" $(x) `y`\nz");
  auto value = text.substr(text.find("DOCKER_OPTS="));
  CHECK(value == "DOCKER_OPTS=\"a   (x)  y  z\"\n");
}

TEST_CASE("known_hosts names each node by name and address, without the key comment") {
  auto text = known_hosts_text(two_hosts(), {"ssh-ed25519 AAAAone root@host-a", "ssh-ed25519 AAAAtwo root@host-b"});
  CHECK(text == "host-a,192.168.1.11 ssh-ed25519 AAAAone\nhost-b,192.168.1.12 ssh-ed25519 AAAAtwo\n");
}

TEST_CASE("the ssh config uses the lab's key and known hosts, strictly, and names the nodes") {
  LabPaths paths{"/run/registry-setup/lab/demo"};
  auto text = ssh_config_text(two_hosts(), paths);
  CHECK(text.find("Host host-a\n  HostName 192.168.1.11\n") != std::string::npos);
  CHECK(text.find("Host host-b\n  HostName 192.168.1.12\n") != std::string::npos);
  CHECK(text.find("  IdentityFile /run/registry-setup/lab/demo/ssh/id_ed25519\n") != std::string::npos);
  CHECK(text.find("  UserKnownHostsFile /run/registry-setup/lab/demo/ssh/known_hosts\n") != std::string::npos);
  CHECK(text.find("  StrictHostKeyChecking yes\n") != std::string::npos);
  CHECK(text.find("  IdentitiesOnly yes\n") != std::string::npos);
  // The catch-all comes after the per-host blocks (ssh takes the first value it meets).
  CHECK(text.find("Host *") > text.find("Host host-b"));
  LabPaths spaced{"/tmp/a b/demo"};
  CHECK(ssh_config_text(two_hosts(), spaced).find("IdentityFile \"/tmp/a b/demo/ssh/id_ed25519\"") !=
        std::string::npos);
}

TEST_CASE("the ssh wrapper execs the real tool with -F, arguments passed through") {
  auto text = ssh_wrapper_text("demo", "ssh", "/usr/bin/ssh", "/x/it's/config");
  CHECK(text.rfind("#!/bin/sh\n", 0) == 0);
  CHECK(text.find("exec '/usr/bin/ssh' -F '/x/it'\\''s/config' \"$@\"\n") != std::string::npos);
}

TEST_CASE("the env file holds the RS_LAB_ variables") {
  LabPaths paths{"/run/registry-setup/lab/demo"};
  auto text = env_text(two_hosts(), paths);
  CHECK(text.find("RS_LAB_NAME='demo'\n") != std::string::npos);
  CHECK(text.find("RS_LAB_SSH_CONFIG='/run/registry-setup/lab/demo/ssh/config'\n") != std::string::npos);
  CHECK(text.find("RS_LAB_CONTROLLER='192.168.1.254'\n") != std::string::npos);
}
