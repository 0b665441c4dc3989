#include "lab/inventory_reader.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace rs::lab;

TEST_CASE("the two-host inventory gives both hosts with their addresses") {
  const char* text = R"(all:
  vars:
    ansible_connection: ssh
    ansible_user: root
  children:
    registry:
      hosts:
        host-a:
          ansible_host: 192.168.1.11
    clients:
      hosts:
        host-b:
          ansible_host: 192.168.1.12
)";
  auto hosts = read_lab_inventory_text(text, "inv.yml");
  REQUIRE(hosts.ok());
  REQUIRE(hosts->size() == 2);
  CHECK((*hosts)[0].name == "host-a");
  CHECK((*hosts)[0].address == "192.168.1.11");
  CHECK((*hosts)[1].name == "host-b");
  CHECK((*hosts)[1].address == "192.168.1.12");
}

TEST_CASE("nested groups, a host in several groups, flow style, a host named by its address") {
  const char* text = R"(all:
  hosts:
    10.0.0.7:
  children:
    registry: {hosts: {a: {ansible_host: 10.0.0.1, registry_port: 5000}}}
    docker:
      children:
        clients:
          hosts:
            b: {ansible_host: 10.0.0.2}
            a:
)";
  auto hosts = read_lab_inventory_text(text, "inv.yml");
  REQUIRE(hosts.ok());
  REQUIRE(hosts->size() == 3);
  CHECK((*hosts)[0].name == "10.0.0.7");
  CHECK((*hosts)[0].address == "10.0.0.7");
  CHECK((*hosts)[1].name == "a");
  CHECK((*hosts)[1].address == "10.0.0.1");
  CHECK((*hosts)[2].name == "b");
}

TEST_CASE("problems name the file and line") {
  auto bad_yaml = read_lab_inventory_text("all: [\n", "x.yml");
  REQUIRE_FALSE(bad_yaml.ok());
  CHECK(bad_yaml.error().message.rfind("x.yml:", 0) == 0);

  const char* text = R"(all:
  children:
    g:
      hosts:
        a: {ansible_host: 10.0.0.1}
    h:
      hosts:
        a: {ansible_host: 10.0.0.2}
      bogus: 1
)";
  auto r = read_lab_inventory_text(text, "inv.yml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == rs::Errc::invalid_argument);
  CHECK(r.error().message.find("inv.yml:8: host 'a' has two ansible_host values") != std::string::npos);
  CHECK(r.error().message.find("inv.yml:9: unknown key 'bogus' in group 'h'") != std::string::npos);

  CHECK_FALSE(read_lab_inventory_text("all: {}\n", "e.yml").ok());
  CHECK_FALSE(read_lab_inventory_text("- a\n", "l.yml").ok());
  CHECK_FALSE(read_lab_inventory("/nonexistent/inventory.yml").ok());
}

TEST_CASE("the example inventory of the repository reads") {
  auto hosts = read_lab_inventory(std::string(RS_SOURCE_DIR) + "/examples/two-host/inventory.yml");
  REQUIRE(hosts.ok());
  REQUIRE(hosts->size() == 2);
  CHECK((*hosts)[0].address == "192.168.1.11");
  CHECK((*hosts)[1].address == "192.168.1.12");
}
