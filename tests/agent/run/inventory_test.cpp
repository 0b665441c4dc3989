#include "agent/run/inventory.hpp"

#include "agent/run/registry_vars.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace rs::agent;

namespace {

const char* kSeed = R"(all:
  vars:
    registry_port: 5000
  children:
    registry:
      hosts:
        host-a:
          ansible_host: 192.168.1.11
    clients:
      hosts:
        host-b:
          ansible_host: 192.168.1.12
          ansible_user: admin
          ansible_port: 2222
)";

}  // namespace

TEST_CASE("inventory: the seed's two hosts, groups and connection variables") {
  Problems problems;
  auto inv = Inventory::parse(kSeed, "inv.yml", problems, derive_registry_vars);
  REQUIRE(inv.ok());
  REQUIRE(problems.empty());
  REQUIRE(inv->hosts().size() == 2);
  const auto* a = inv->host("host-a");
  const auto* b = inv->host("host-b");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->address == "192.168.1.11");
  CHECK(a->groups.count("registry"));
  CHECK(a->groups.count("all"));
  CHECK(a->connection == Connection::ssh);
  CHECK(b->user == "admin");
  CHECK(b->port == 2222);
  CHECK(registry_addresses(*inv) == std::vector<std::string>{"192.168.1.11:5000"});
  // Every host gets the registry list as a variable for playbooks.
  REQUIRE(b->vars.count("registry_addresses"));
  CHECK(b->vars.at("registry_addresses").value.size() == 1);
  CHECK(b->var_string("registry_root") == "/var/lib/registry");
}

TEST_CASE("inventory: precedence all < parent group < child group < host") {
  const char* text = R"(all:
  vars: {level: all, only_all: x, registry_port: 5001}
  children:
    parent:
      vars: {level: parent, parent_var: p}
      children:
        child:
          vars: {level: child}
          hosts:
            h1: {}
            h2: {level: host}
    other:
      hosts:
        h3:
)";
  Problems problems;
  auto inv = Inventory::parse(text, "inv.yml", problems, derive_registry_vars);
  REQUIRE(inv.ok());
  CHECK(inv->host("h1")->var_string("level") == "child");
  CHECK(inv->host("h1")->var_string("parent_var") == "p");
  CHECK(inv->host("h1")->var_string("only_all") == "x");
  CHECK(inv->host("h2")->var_string("level") == "host");
  CHECK(inv->host("h3")->var_string("level") == "all");
  CHECK(inv->host("h1")->groups.count("parent"));
  CHECK(inv->host("h1")->var_string("registry_port") == "5001");
  CHECK(inv->group_hosts("parent") == std::vector<std::string>{"h1", "h2"});
}

TEST_CASE("inventory: every problem is listed with file, line and key") {
  const char* text = R"(all:
  vars:
    ansible_connection: telnet
  children:
    registry:
      hosts:
        host-a:
          ansible_port: 99999
          registry_root: relative/path
    clients:
      hostz:
        host-b:
)";
  Problems problems;
  auto inv = Inventory::parse(text, "bad.yml", problems, derive_registry_vars);
  REQUIRE_FALSE(inv.ok());
  REQUIRE(problems.size() == 4);
  auto find = [&](const std::string& key) -> const Problem* {
    for (const auto& p : problems)
      if (p.key == key) return &p;
    return nullptr;
  };
  const Problem* conn = find("all.vars.ansible_connection");
  REQUIRE(conn);
  CHECK(conn->line == 3);
  CHECK(conn->file == "bad.yml");
  CHECK_THAT(conn->message, Catch::Contains("telnet"));
  const Problem* port = find("all.children.registry.hosts.host-a.ansible_port");
  REQUIRE(port);
  CHECK(port->line == 8);
  const Problem* root = find("all.children.registry.hosts.host-a.registry_root");
  REQUIRE(root);
  CHECK(root->line == 9);
  const Problem* unknown = find("all.children.clients.hostz");
  REQUIRE(unknown);
  CHECK(unknown->line == 11);
  CHECK_THAT(problems.front().str(), Catch::StartsWith("bad.yml:"));
}

TEST_CASE("inventory: YAML syntax errors carry the line") {
  Problems problems;
  auto inv = Inventory::parse("all:\n  hosts:\n    a: {x: [1, 2}\n", "broken.yml", problems, derive_registry_vars);
  REQUIRE_FALSE(inv.ok());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].line == 3);
  CHECK_THAT(problems[0].message, Catch::Contains("YAML"));
}

TEST_CASE("inventory: host patterns") {
  Problems problems;
  auto inv = Inventory::parse(kSeed, "inv.yml", problems, derive_registry_vars);
  REQUIRE(inv.ok());
  CHECK(*inv->match("all") == std::vector<std::string>{"host-a", "host-b"});
  CHECK(*inv->match("registry") == std::vector<std::string>{"host-a"});
  CHECK(*inv->match("host-*") == std::vector<std::string>{"host-a", "host-b"});
  CHECK(*inv->match("all:!registry") == std::vector<std::string>{"host-b"});
  CHECK(*inv->match("all:&clients") == std::vector<std::string>{"host-b"});
  CHECK(*inv->match("host-b,registry") == std::vector<std::string>{"host-b", "host-a"});
  CHECK_FALSE(inv->match("nosuchgroup").ok());
  CHECK(glob_match("h?st-*", "host-a"));
  CHECK_FALSE(glob_match("h?st-*", "hst-a"));
}

TEST_CASE("inventory: the shipped examples are valid") {
  for (const char* file : {"examples/two-host/inventory.yml", "examples/local/inventory.yml"}) {
    Problems problems;
    auto inv = Inventory::load(std::string(RS_SOURCE_DIR) + "/" + file, problems, derive_registry_vars);
    INFO(file);
    REQUIRE(inv.ok());
    CHECK_FALSE(registry_addresses(*inv).empty());
  }
  Problems problems;
  auto local = Inventory::load(std::string(RS_SOURCE_DIR) + "/examples/local/inventory.yml", problems, derive_registry_vars);
  CHECK(local->hosts().front().connection == Connection::local);
}

TEST_CASE("inventory: the parser alone is Ansible's; the registry's variables are derived on request") {
  Problems problems;
  auto plain = Inventory::parse(kSeed, "inv.yml", problems);
  REQUIRE(plain.ok());
  const auto* b = plain->host("host-b");
  REQUIRE(b);
  CHECK_FALSE(b->vars.count("registry_addresses"));
  CHECK_FALSE(b->vars.count("registry_root"));
  // A host that sets a variable keeps it; the others get the default.
  auto derived = Inventory::parse(
      "all:\n  children:\n    registry:\n      hosts:\n        r1: {ansible_host: 10.0.0.1, registry_port: 5001}\n"
      "    clients:\n      hosts:\n        c1: {registry_addresses: [other:1]}\n        c2: {}\n",
      "inv.yml", problems, derive_registry_vars);
  REQUIRE(derived.ok());
  CHECK(registry_addresses(*derived) == std::vector<std::string>{"10.0.0.1:5001"});
  CHECK(derived->host("c1")->vars.at("registry_addresses").value[0].as<std::string>() == "other:1");
  CHECK(derived->host("c2")->vars.at("registry_addresses").value[0].as<std::string>() == "10.0.0.1:5001");
  CHECK(derived->host("c2")->var_string("registry_port") == "5000");
}

TEST_CASE("inventory: a key that is a list, or a key set twice, is a listed problem") {
  Problems problems;
  auto inv = Inventory::parse("all:\n  hosts:\n    ? [a]\n    : 1\n    b: {}\n  vars: {x: 1, x: 2}\n", "odd.yml", problems,
                              derive_registry_vars);
  REQUIRE_FALSE(inv.ok());
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].str() == "odd.yml:3: all.hosts: a key must be a plain value, not a list or mapping");
  CHECK(problems[1].str() == "odd.yml:6: all.vars.x: set twice in one mapping (first at line 6)");
}

TEST_CASE("inventory: the secure registry's variables: lists for the clients, paths from the inventory's folder") {
  const char* text = R"(all:
  vars:
    registry_login_user: ci
    registry_login_password_file: secrets/ci
  children:
    registry:
      hosts:
        tls-a:
          ansible_host: 10.77.0.11
          registry_tls: self-signed
          registry_tls_dir: state/tls
          registry_users:
            - {name: ci, password_file: secrets/ci}
        plain-b:
          ansible_host: 10.77.0.12
        own-c:
          ansible_host: 10.77.0.13
          registry_tls: files
          registry_tls_certificate: /etc/site/reg.crt
          registry_tls_key: /etc/site/reg.key
    clients:
      hosts:
        client:
)";
  Problems problems;
  auto inv = Inventory::parse(text, "/srv/lab/inventory.yml", problems, derive_registry_vars);
  REQUIRE(inv.ok());
  const auto* client = inv->host("client");
  auto list = [&](const char* var) {
    std::vector<std::string> out;
    for (const auto& n : client->vars.at(var).value) out.push_back(n.IsScalar() ? n.as<std::string>() : n["address"].as<std::string>());
    return out;
  };
  CHECK(list("registry_insecure_addresses") == std::vector<std::string>{"10.77.0.12:5000"});
  CHECK(list("registry_tls_addresses") == std::vector<std::string>{"10.77.0.11:5000", "10.77.0.13:5000"});
  CHECK(list("registry_auth_addresses") == std::vector<std::string>{"10.77.0.11:5000"});
  const auto& trust = client->vars.at("registry_tls_trust").value;
  CHECK(trust[0]["ca_dir"].as<std::string>() == "/srv/lab/state/tls");
  CHECK(trust[1]["ca"].as<std::string>() == "/etc/site/reg.crt");
  CHECK(client->var_string("registry_login_password_file") == "/srv/lab/secrets/ci");
  CHECK(inv->host("tls-a")->vars.at("registry_users").value[0]["password_file"].as<std::string>() == "/srv/lab/secrets/ci");
  CHECK(inv->host("plain-b")->var_string("registry_tls") == "none");
  CHECK_THAT(inv->host("plain-b")->var_string("registry_tls_dir"), Catch::EndsWith("/registry-setup/tls"));
}

TEST_CASE("inventory: bad secure-registry variables are problems") {
  const char* text = R"(all:
  children:
    registry:
      hosts:
        a:
          registry_tls: maybe
          registry_auth: ldap
          registry_users: alice
        b:
          registry_tls: files
          registry_login_user: ci
)";
  Problems problems;
  auto inv = Inventory::parse(text, "bad.yml", problems, derive_registry_vars);
  REQUIRE_FALSE(inv.ok());
  std::string all;
  for (const auto& p : problems) all += p.key + ": " + p.message + "\n";
  CHECK_THAT(all, Catch::Contains("registry_tls: 'maybe' is not one of none, self-signed, files"));
  CHECK_THAT(all, Catch::Contains("registry_auth: 'ldap' is not one of basic, token"));
  CHECK_THAT(all, Catch::Contains("registry_users: must be a list"));
  CHECK_THAT(all, Catch::Contains("files needs registry_tls_certificate"));
  CHECK_THAT(all, Catch::Contains("needs registry_login_password_file"));
}

namespace {

void put(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("inventory: group_vars and host_vars beside it, -e above all, in Ansible's order") {
  rs::testing::TempDir dir;
  put(dir.path / "inventory.yml", R"(all:
  vars: {level: inventory-all, from_all: 1}
  children:
    clients:
      vars: {level: inventory-clients}
      children:
        edge: {hosts: {c2: {level: inventory-host}}}
      hosts:
        c1: {}
)");
  put(dir.path / "group_vars/all.yml", "level: group_vars-all\nregistry_port: 5001\n");
  put(dir.path / "group_vars/clients/10-main.yml", "level: group_vars-clients\n");
  put(dir.path / "group_vars/clients/20-more.yaml", "more: yes\n");
  put(dir.path / "group_vars/nosuchgroup.yml", "not: [valid\n");  // not read: no such group
  put(dir.path / "host_vars/c1", "level: host_vars-c1\n");
  Problems problems;
  auto inv = Inventory::load({(dir.path / "inventory.yml").string()}, {}, problems);
  INFO((problems.empty() ? std::string() : problems.front().str()));
  REQUIRE(inv.ok());
  // host_vars/ beats the inventory's host vars and every group's.
  CHECK(inv->host("c1")->var_string("level") == "host_vars-c1");
  // The inventory's own host vars beat group_vars/ of any group.
  CHECK(inv->host("c2")->var_string("level") == "inventory-host");
  CHECK(inv->host("c2")->var_string("more") == "yes");
  CHECK(inv->host("c2")->var_string("registry_port") == "5001");
  CHECK(inv->host("c2")->var_string("from_all") == "1");
  const auto& where = inv->host("c2")->vars.at("registry_port");
  CHECK(where.file == (dir.path / "group_vars/all.yml").string());
  CHECK(where.line == 2);

  // -e wins over everything; later -e over earlier; @FILE and mappings too.
  put(dir.path / "extra.yml", "level: extra-file\n");
  auto extra = Inventory::load({(dir.path / "inventory.yml").string()},
                               {"level=first other='a b'", "@" + (dir.path / "extra.yml").string(), "{\"n\": [1, 2]}"},
                               problems);
  REQUIRE(extra.ok());
  CHECK(extra->host("c1")->var_string("level") == "extra-file");
  CHECK(extra->host("c2")->var_string("other") == "a b");
  CHECK(extra->host("c2")->vars.at("n").value.size() == 2);

  Problems bad;
  CHECK_FALSE(Inventory::load({(dir.path / "inventory.yml").string()}, {"novalue", "x='open"}, bad).ok());
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].str() == "-e: 'novalue' is not key=value");
}

TEST_CASE("inventory: a directory of sources, several -i merged, groups without a parent under all") {
  rs::testing::TempDir dir;
  put(dir.path / "inv/10-registry.yml", "registry:\n  hosts:\n    r1: {ansible_host: 10.0.0.1}\n");
  put(dir.path / "inv/20-clients.yaml", "clients:\n  hosts:\n    c1: {}\n    r1: {}\n");
  put(dir.path / "inv/README.md", "# not an inventory\n");
  put(dir.path / "inv/old.yml~", "[broken\n");
  put(dir.path / "inv/group_vars/clients.yml", "registry_port: 6000\n");
  put(dir.path / "more.yml", "all:\n  hosts:\n    lone: {}\n");
  Problems problems;
  auto inv = Inventory::load({(dir.path / "inv").string(), (dir.path / "more.yml").string()}, {}, problems);
  INFO((problems.empty() ? std::string() : problems.front().str()));
  REQUIRE(inv.ok());
  CHECK(*inv->match("all") == std::vector<std::string>{"r1", "c1", "lone"});
  CHECK(inv->host("r1")->groups == std::set<std::string>{"all", "registry", "clients"});
  CHECK(inv->host("c1")->var_string("registry_port") == "6000");
  CHECK(*inv->match("ungrouped") == std::vector<std::string>{"lone"});
}

TEST_CASE("inventory: host ranges in YAML, cycles and become variables") {
  Problems problems;
  auto inv = Inventory::parse(R"(all:
  vars: {ansible_user: deploy, ansible_become: yes}
  children:
    clients:
      hosts:
        cli[01:03]: {ansible_become_password: s3cret}
        edge-[a:b]: {ansible_become: false, ansible_become_user: admin}
)", "ranges.yml", problems);
  REQUIRE(inv.ok());
  CHECK(*inv->match("clients") == std::vector<std::string>{"cli01", "cli02", "cli03", "edge-a", "edge-b"});
  const auto* c = inv->host("cli02");
  CHECK(c->become);
  CHECK(c->become_user == "root");
  CHECK(c->become_password == std::optional<std::string>("s3cret"));
  CHECK_FALSE(inv->host("edge-b")->become);
  CHECK(inv->host("edge-b")->become_user == "admin");

  Problems bad;
  CHECK_FALSE(Inventory::parse("all:\n  vars: {ansible_become: maybe, ansible_become_method: su}\n  hosts: {a: {}}\n",
                               "b.yml", bad)
                  .ok());
  REQUIRE(bad.size() == 2);
  CHECK_THAT(bad[0].str(), Catch::Contains("ansible_become: 'maybe' is not a boolean"));
  CHECK_THAT(bad[1].str(), Catch::Contains("ansible_become_method: 'su' is not supported"));

  Problems cycle;
  CHECK_FALSE(Inventory::parse("a:\n  children:\n    b:\n      children:\n        a: {hosts: {h: {}}}\n", "c.yml", cycle).ok());
  REQUIRE_FALSE(cycle.empty());
  CHECK_THAT(cycle[0].str(), Catch::Contains("contains itself through its children"));
}
