#include "agent/run/playbook.hpp"

#include "agent/run/builtin_playbook.hpp"
#include "agent/run/registry_vars.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

using namespace rs::agent;

namespace {

Inventory seed_inventory() {
  Problems problems;
  auto inv = Inventory::parse(R"(all:
  children:
    registry: {hosts: {host-a: {ansible_host: 10.77.0.11}}}
    clients: {hosts: {host-b: {ansible_host: 10.77.0.12, insecure_registry_method: daemon-json}}}
)", "inv.yml", problems, derive_registry_vars);
  REQUIRE(inv.ok());
  return std::move(*inv);
}

}  // namespace

TEST_CASE("playbook: the built-in default is playbooks/site.yml as built, found without files") {
  std::ifstream in(std::string(RS_SOURCE_DIR) + "/playbooks/site.yml");
  std::stringstream source;
  source << in.rdbuf();
  REQUIRE_FALSE(source.str().empty());
  CHECK(builtin_playbook_text() == source.str());
  // The test binary is not installed: nothing under its prefix, so the built-in copy.
  CHECK(default_playbook_path() == kBuiltinPlaybook);
  Problems problems;
  auto book = Playbook::load(std::string(kBuiltinPlaybook), problems);
  REQUIRE(book.ok());
  CHECK(problems.empty());
  CHECK(book->file == kBuiltinPlaybook);
  CHECK(book->plays.size() == 2);
}

TEST_CASE("playbook: the default playbook parses and plans for the seed") {
  Problems problems;
  auto book = Playbook::load(std::string(RS_SOURCE_DIR) + "/playbooks/site.yml", problems);
  REQUIRE(book.ok());
  REQUIRE(book->plays.size() == 2);
  CHECK(book->plays[0].tasks.size() == 6);
  CHECK(book->plays[0].handlers.size() == 1);
  CHECK(book->plays[0].tasks[1].notify == std::vector<std::string>{"restart docker"});
  auto inv = seed_inventory();
  auto plans = plan(*book, inv, *inv.match("all"), problems);
  REQUIRE(plans.ok());
  REQUIRE(plans->size() == 2);
  // host-a: both plays; host-b: only the first.
  CHECK((*plans)[0].plays.size() == 2);
  CHECK((*plans)[1].plays.size() == 1);
  CHECK((*plans)[1].plays[0].tasks[1].action->summary() == "10.77.0.11:5000 via daemon-json");
  CHECK((*plans)[0].plays[0].tasks[1].action->summary() == "10.77.0.11:5000 via dropin");
}

TEST_CASE("playbook: structure problems are listed with line and key") {
  const char* text = R"(- name: one
  hosts: all
  tasks:
    - name: typo
      sysctll: {name: a.b, value: 1}
    - name: notifies nobody
      sysctl: {name: net.ipv4.ip_forward, value: "1"}
      notify: restart dockr
  handlers:
    - name: restart docker
      systemd: {name: docker.service, state: restarted}
- name: two
  tasks: []
)";
  Problems problems;
  auto book = Playbook::parse(text, "pb.yml", problems);
  REQUIRE_FALSE(book.ok());
  REQUIRE(problems.size() == 3);
  CHECK(problems[0].line == 5);
  CHECK(problems[0].key == "plays[0].tasks[0].sysctll");
  CHECK_THAT(problems[0].message, Catch::Contains("unknown module"));
  CHECK(problems[1].line == 6);
  CHECK_THAT(problems[1].message, Catch::Contains("restart dockr"));
  CHECK(problems[2].key == "plays[1].hosts");
}

TEST_CASE("playbook: serial and max_fail_percentage are read, bad values listed with line and key") {
  Problems problems;
  auto good = Playbook::parse(R"(- hosts: all
  serial: [1, "25%"]
  max_fail_percentage: 10
  tasks: []
)", "pb.yml", problems);
  REQUIRE(good.ok());
  const auto& rolling = good->plays[0].rolling;
  REQUIRE(rolling.serial.size() == 2);
  CHECK(rolling.serial[1].percent);
  CHECK(rolling.max_fail_percentage == 10);

  auto bad = Playbook::parse(R"(- hosts: all
  serial: 2x
  max_fail_percentage: 200
  tasks: []
)", "pb.yml", problems);
  REQUIRE_FALSE(bad.ok());
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].line == 2);
  CHECK(problems[0].key == "plays[0].serial");
  CHECK_THAT(problems[0].message, Catch::Contains("'2x' is not a whole number"));
  CHECK(problems[1].key == "plays[0].max_fail_percentage");
}

TEST_CASE("playbook: bad argument values and unknown variables are found before acting") {
  const char* text = R"(- hosts: all
  tasks:
    - sysctl: {name: "net/ipv4 bad", value: "1", colour: red}
    - docker_insecure_registry: {registries: "{{ no_such_var }}"}
    - registry_service: {port: 70000, root: "{{ registry_root }}"}
    - systemd: {name: docker.service, state: reloaded}
)";
  Problems problems;
  auto book = Playbook::parse(text, "pb.yml", problems);
  REQUIRE(book.ok());
  auto inv = seed_inventory();
  auto plans = plan(*book, inv, *inv.match("all"), problems);
  REQUIRE_FALSE(plans.ok());
  std::vector<std::string> keys;
  for (const auto& p : problems) keys.push_back(p.key + " @" + std::to_string(p.line));
  CHECK(keys == std::vector<std::string>{
                    "plays[0].tasks[0].sysctl.colour @3",
                    "plays[0].tasks[0].sysctl.name @3",
                    "plays[0].tasks[1].docker_insecure_registry @4",
                    "plays[0].tasks[2].registry_service.port @5",
                    "plays[0].tasks[3].systemd.state @6",
                });
  CHECK_THAT(problems[2].message, Catch::Contains("undefined variable 'no_such_var'"));
}

TEST_CASE("playbook: templates keep lists and substitute inside strings") {
  Vars vars;
  YAML::Node list(YAML::NodeType::Sequence);
  list.push_back("a:1");
  list.push_back("b:2");
  vars["regs"] = Var{list, "f", 1, "regs"};
  vars["port"] = Var{YAML::Node("5000"), "f", 1, "port"};
  vars["url"] = Var{YAML::Node("http://x:{{ port }}"), "f", 1, "url"};
  vars["loop"] = Var{YAML::Node("{{ loop }}"), "f", 1, "loop"};
  auto r = render(YAML::Load("{a: '{{ regs }}', b: 'p={{port}}!', c: '{{ url }}/v2/'}"), vars);
  REQUIRE(r.ok());
  CHECK((*r)["a"].IsSequence());
  CHECK((*r)["a"].size() == 2);
  CHECK((*r)["b"].as<std::string>() == "p=5000!");
  CHECK((*r)["c"].as<std::string>() == "http://x:5000/v2/");
  CHECK_FALSE(render(YAML::Node("{{ loop }}"), vars).ok());
  CHECK_FALSE(render(YAML::Node("x {{ regs }}"), vars).ok());
}
