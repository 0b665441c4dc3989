#include "lab/plan.hpp"

#include <catch2/catch.hpp>

using namespace rs::lab;

TEST_CASE("parse_ipv4 reads dotted quads and nothing else") {
  CHECK(parse_ipv4("192.168.1.11") == 0xC0A8010Bu);
  CHECK(parse_ipv4("0.0.0.0") == 0u);
  CHECK(parse_ipv4("255.255.255.255") == 0xFFFFFFFFu);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.x", "01.2.3.4", "1..2.3", " 1.2.3.4",
                          "1.2.3.4/24", "host-a"})
    CHECK_FALSE(parse_ipv4(bad));
  CHECK(format_ipv4(0xC0A8010Bu) == "192.168.1.11");
  CHECK(subnet_of(0xC0A8010Bu, 24) == "192.168.1.0/24");
  CHECK(subnet_of(0x0A0000FFu, 25) == "10.0.0.128/25");
}

TEST_CASE("lab and host names") {
  CHECK(valid_lab_name("lab"));
  CHECK(valid_lab_name("ci-2"));
  CHECK_FALSE(valid_lab_name(""));
  CHECK_FALSE(valid_lab_name("-a"));
  CHECK_FALSE(valid_lab_name("a-"));
  CHECK_FALSE(valid_lab_name("Lab"));
  CHECK_FALSE(valid_lab_name("a_b"));
  CHECK_FALSE(valid_lab_name("seventeen-chars-x"));
  CHECK(valid_host_name("host-a"));
  CHECK(valid_host_name("web1.example.com"));
  CHECK(valid_host_name("192.168.1.11"));
  CHECK_FALSE(valid_host_name("-a"));
  CHECK_FALSE(valid_host_name("a_b"));
  CHECK_FALSE(valid_host_name("a..b"));
  CHECK_FALSE(valid_host_name("a/b"));
  CHECK_FALSE(valid_host_name(std::string(41, 'a')));
}

TEST_CASE("the seed's two hosts make one subnet, the controller takes .254") {
  auto plan = make_plan("demo", {{"host-a", "192.168.1.11"}, {"host-b", "192.168.1.12"}});
  REQUIRE(plan.ok());
  CHECK(plan->switch_netns == "rslab-demo_switch");
  CHECK(plan->controller_netns == "rslab-demo_controller");
  CHECK(plan->controller_address == "192.168.1.254");
  CHECK(plan->controller_cidr == "192.168.1.254/24");
  CHECK(plan->controller_routes.empty());
  CHECK(plan->subnets == std::vector<std::string>{"192.168.1.0/24"});
  REQUIRE(plan->nodes.size() == 2);
  CHECK(plan->nodes[0].netns == "rslab-demo.host-a");
  CHECK(plan->nodes[0].cidr == "192.168.1.11/24");
  CHECK(plan->nodes[0].switch_port == "n0");
  CHECK(plan->nodes[1].switch_port == "n1");
  CHECK(plan->nodes[1].routes.empty());
  CHECK(plan->all_netns() == std::vector<std::string>{"rslab-demo_switch", "rslab-demo_controller",
                                                      "rslab-demo.host-a", "rslab-demo.host-b"});
  REQUIRE(plan->node("host-b"));
  CHECK(plan->node("host-b")->address == "192.168.1.12");
  CHECK_FALSE(plan->node("host-c"));
}

TEST_CASE("hosts in different subnets get on-link routes to the others, never a default route") {
  auto plan = make_plan("x", {{"a", "10.0.0.5"}, {"b", "10.0.1.5"}, {"c", "10.0.0.6"}});
  REQUIRE(plan.ok());
  CHECK(plan->subnets == std::vector<std::string>{"10.0.0.0/24", "10.0.1.0/24"});
  CHECK(plan->nodes[0].routes == std::vector<std::string>{"10.0.1.0/24"});
  CHECK(plan->nodes[1].routes == std::vector<std::string>{"10.0.0.0/24"});
  CHECK(plan->nodes[2].routes == std::vector<std::string>{"10.0.1.0/24"});
  CHECK(plan->controller_address == "10.0.0.254");
  CHECK(plan->controller_routes == std::vector<std::string>{"10.0.1.0/24"});
  for (const auto& n : plan->nodes)
    for (const auto& r : n.routes) CHECK(r != "0.0.0.0/0");
}

TEST_CASE("the controller skips addresses the hosts use") {
  auto plan = make_plan("x", {{"a", "10.1.2.254"}, {"b", "10.1.2.253"}});
  REQUIRE(plan.ok());
  CHECK(plan->controller_address == "10.1.2.252");
  auto small = make_plan("x", {{"a", "10.1.2.1"}, {"b", "10.1.2.2"}}, 30);
  REQUIRE_FALSE(small.ok());
  CHECK(small.error().message.find("no free address") != std::string::npos);
  auto prefix = make_plan("x", {{"a", "10.1.2.1"}}, 16);
  REQUIRE(prefix.ok());
  CHECK(prefix->controller_address == "10.1.255.254");
}

TEST_CASE("make_plan lists every problem") {
  auto plan = make_plan("demo", {{"a", "127.0.0.5"},
                                 {"b", "10.0.0.0"},
                                 {"c", "10.0.0.255"},
                                 {"d", "224.0.0.1"},
                                 {"e", "10.0.0.9"},
                                 {"f", "10.0.0.9"},
                                 {"a", "10.0.0.7"},
                                 {"g_h", "10.0.0.8"},
                                 {"i", "nope"}});
  REQUIRE_FALSE(plan.ok());
  const auto& m = plan.error().message;
  CHECK(plan.error().code == rs::Errc::invalid_argument);
  CHECK(m.find("host 'a': 127.0.0.5 is not a unicast") != std::string::npos);
  CHECK(m.find("host 'b': 10.0.0.0 is the network or broadcast") != std::string::npos);
  CHECK(m.find("host 'c': 10.0.0.255 is the network or broadcast") != std::string::npos);
  CHECK(m.find("host 'd': 224.0.0.1") != std::string::npos);
  CHECK(m.find("host 'f': address 10.0.0.9 is used twice") != std::string::npos);
  CHECK(m.find("host 'a': listed twice") != std::string::npos);
  CHECK(m.find("host 'g_h'") != std::string::npos);
  CHECK(m.find("host 'i': 'nope' is not an IPv4 address") != std::string::npos);
  CHECK_FALSE(make_plan("Bad", {{"a", "10.0.0.1"}}).ok());
  CHECK_FALSE(make_plan("ok", {}).ok());
  CHECK_FALSE(make_plan("ok", {{"a", "10.0.0.1"}}, 31).ok());
}

// The lab reads inventories with the agent's parser: the hosts and addresses `apply` uses.
using rs::agent::Inventory;
using rs::agent::Problems;

TEST_CASE("lab_hosts: the two-host inventory gives both hosts with their addresses") {
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
  Problems problems;
  auto inv = Inventory::parse(text, "inv.yml", problems);
  REQUIRE(inv.ok());
  auto hosts = lab_hosts(*inv);
  REQUIRE(hosts.size() == 2);
  CHECK(hosts[0].name == "host-a");
  CHECK(hosts[0].address == "192.168.1.11");
  CHECK(hosts[1].name == "host-b");
  CHECK(hosts[1].address == "192.168.1.12");
}

TEST_CASE("lab_hosts: nested groups, a host in several groups, flow style, a host named by its address") {
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
  Problems problems;
  auto inv = Inventory::parse(text, "inv.yml", problems);
  REQUIRE(inv.ok());
  auto hosts = lab_hosts(*inv);
  REQUIRE(hosts.size() == 3);
  CHECK(hosts[0].name == "10.0.0.7");
  CHECK(hosts[0].address == "10.0.0.7");
  CHECK(hosts[1].name == "a");
  CHECK(hosts[1].address == "10.0.0.1");
  CHECK(hosts[2].name == "b");
  CHECK(hosts[2].address == "10.0.0.2");
}

TEST_CASE("lab inventories: problems name the file and line, a lab needs hosts") {
  Problems problems;
  CHECK_FALSE(Inventory::parse("all: [\n", "x.yml", problems).ok());
  REQUIRE_FALSE(problems.empty());
  CHECK(problems[0].str().rfind("x.yml:", 0) == 0);

  const char* text = R"(all:
  children:
    g:
      hosts:
        a: {ansible_host: 10.0.0.1}
    h:
      hosts:
        b: {ansible_host: 10.0.0.2}
      bogus: 1
)";
  problems.clear();
  CHECK_FALSE(Inventory::parse(text, "inv.yml", problems).ok());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].str().rfind("inv.yml:9: all.children.h.bogus: unknown key", 0) == 0);

  problems.clear();
  auto empty = Inventory::parse("all: {}\n", "e.yml", problems);
  REQUIRE(empty.ok());
  auto plan = make_plan("demo", lab_hosts(*empty));
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().code == rs::Errc::invalid_argument);
  CHECK(plan.error().message.find("no hosts") != std::string::npos);

  CHECK_FALSE(Inventory::parse("- a\n", "l.yml", problems).ok());
  problems.clear();
  CHECK_FALSE(Inventory::load("/nonexistent/inventory.yml", problems).ok());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].file == "/nonexistent/inventory.yml");
}

TEST_CASE("lab_hosts: the example inventory of the repository") {
  Problems problems;
  auto inv = Inventory::load(std::string(RS_SOURCE_DIR) + "/examples/two-host/inventory.yml", problems);
  REQUIRE(inv.ok());
  auto hosts = lab_hosts(*inv);
  REQUIRE(hosts.size() == 2);
  CHECK(hosts[0].address == "192.168.1.11");
  CHECK(hosts[1].address == "192.168.1.12");
}
