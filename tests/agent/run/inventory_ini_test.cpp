#include "agent/run/inventory_ini.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace rs::agent;

namespace {

using Names = std::vector<std::string>;

struct Read {
  InventorySource source;
  Problems problems;

  const Var& var(const std::string& host, const std::string& name) const {
    static const Var none;
    auto h = source.host_vars.find(host);
    if (h == source.host_vars.end()) return none;
    auto v = h->second.find(name);
    return v == h->second.end() ? none : v->second;
  }
  bool has(const std::string& host, const std::string& name) const {
    auto h = source.host_vars.find(host);
    return h != source.host_vars.end() && h->second.count(name);
  }
  const Var& group_var(const std::string& group, const std::string& name) const {
    static const Var none;
    auto g = source.groups.find(group);
    if (g == source.groups.end()) return none;
    auto v = g->second.vars.find(name);
    return v == g->second.vars.end() ? none : v->second;
  }
  Names hosts(const std::string& group) const {
    auto g = source.groups.find(group);
    return g == source.groups.end() ? Names{} : g->second.hosts;
  }
  Names children(const std::string& group) const {
    auto g = source.groups.find(group);
    return g == source.groups.end() ? Names{} : g->second.children;
  }
  std::string problem_list() const {
    std::string s;
    for (const auto& p : problems) s += p.str() + "\n";
    return s;
  }
};

Read read(const std::string& text, std::size_t max_hosts = kMaxInventoryHosts) {
  Read r;
  read_ini_inventory(text, "hosts.ini", r.source, r.problems, max_hosts);
  return r;
}

std::string scalar(const Var& v) {
  REQUIRE(v.value);
  REQUIRE(v.value.IsScalar());
  return v.value.as<std::string>();
}

// The value as parse_ini_value makes it; the test fails on an error.
YAML::Node value(const std::string& text) {
  auto r = parse_ini_value(text);
  REQUIRE(r.ok());
  return *r;
}

std::string value_scalar(const std::string& text) {
  auto node = value(text);
  REQUIRE(node.IsScalar());
  return node.as<std::string>();
}

const char* kHosts = R"(# Ansible's own kind of hosts file
host-a ansible_host=192.168.1.11

[registry]
host-a

[clients]
host-b ansible_user=admin ansible_port=2222
host-c:2200
; a comment of the other kind

[clients:vars]
registry_port=5000

[site:children]
registry
clients
)";

}  // namespace

TEST_CASE("inventory ini: hosts before any header are ungrouped, a child of all", "[ini]") {
  auto r = read(kHosts);
  INFO(r.problem_list());
  REQUIRE(r.problems.empty());
  CHECK(r.hosts("ungrouped") == Names{"host-a"});
  CHECK(r.children("all") == Names{"ungrouped"});
  CHECK(scalar(r.var("host-a", "ansible_host")) == "192.168.1.11");
  CHECK(r.var("host-a", "ansible_host").key == "[ungrouped] host-a");
  CHECK(r.var("host-a", "ansible_host").line == 2);
  CHECK(r.var("host-a", "ansible_host").file == "hosts.ini");
}

TEST_CASE("inventory ini: groups, their hosts in order, every host once in host_order", "[ini]") {
  auto r = read(kHosts);
  REQUIRE(r.problems.empty());
  CHECK(r.hosts("registry") == Names{"host-a"});
  CHECK(r.hosts("clients") == Names{"host-b", "host-c"});
  CHECK(r.source.host_order == Names{"host-a", "host-b", "host-c"});
  CHECK(r.var("host-b", "ansible_user").key == "[clients] host-b");
  CHECK(r.var("host-b", "ansible_user").line == 8);
}

TEST_CASE("inventory ini: [group:vars] set group variables, with key and line", "[ini]") {
  auto r = read(kHosts);
  REQUIRE(r.problems.empty());
  const Var& port = r.group_var("clients", "registry_port");
  CHECK(scalar(port) == "5000");
  CHECK(port.key == "[clients:vars] registry_port");
  CHECK(port.line == 13);
  // Everything after the first '=' is the value, spaces around it dropped.
  auto s = read("[g]\nh\n[g:vars]\nopts = a=b c=d\nempty=\nquoted='x y'\nword=FALSE\ncomment=8080 # http\n");
  INFO(s.problem_list());
  REQUIRE(s.problems.empty());
  CHECK(scalar(s.group_var("g", "opts")) == "a=b c=d");
  CHECK(scalar(s.group_var("g", "empty")) == "");
  // Values are read as the plugin's _parse_value reads them: a Python literal, else the text.
  CHECK(scalar(s.group_var("g", "quoted")) == "x y");
  CHECK(scalar(s.group_var("g", "word")) == "FALSE");
  CHECK(scalar(s.group_var("g", "comment")) == "8080");
}

TEST_CASE("inventory ini: [group:children] make child groups, declared before or after", "[ini]") {
  auto r = read(kHosts);
  REQUIRE(r.problems.empty());
  CHECK(r.children("site") == Names{"registry", "clients"});
  // A child named before its own header, and :vars before the group's header, are fine.
  auto s = read("[top:children]\nlater  # comment\n[later:vars]\nx=1\n[later]\nh1\n");
  INFO(s.problem_list());
  REQUIRE(s.problems.empty());
  CHECK(s.children("top") == Names{"later"});
  CHECK(s.hosts("later") == Names{"h1"});
  CHECK(scalar(s.group_var("later", "x")) == "1");
  // A group an earlier source declared is declared.
  Read t;
  t.source.group("elsewhere");
  read_ini_inventory("[p:children]\nelsewhere\n[elsewhere:vars]\na=b\n", "two.ini", t.source, t.problems);
  INFO(t.problem_list());
  CHECK(t.problems.empty());
}

TEST_CASE("inventory ini: a child group or :vars group declared nowhere is a problem at its line", "[ini]") {
  auto r = read("[p:children]\nghost\n\n[lonely:vars]\nx=1\n");
  REQUIRE(r.problems.size() == 2);
  CHECK(r.problems[0].line == 2);
  CHECK(r.problems[0].key == "[p:children] ghost");
  CHECK_THAT(r.problems[0].message, Catch::Contains("'ghost' is declared nowhere"));
  CHECK(r.problems[1].line == 4);
  CHECK(r.problems[1].key == "[lonely:vars]");
  CHECK(r.problems[1].str() == "hosts.ini:4: [lonely:vars]: section [lonely:vars] is for a group declared nowhere");
}

TEST_CASE("inventory ini: 'all' or the group itself as a child is a problem at that line", "[ini]") {
  auto r = read("[a]\nh\n[a:children]\nall\na\n");
  REQUIRE(r.problems.size() == 2);
  CHECK(r.problems[0].line == 4);
  CHECK(r.problems[0].key == "[a:children] all");
  CHECK_THAT(r.problems[0].message, Catch::Contains("cannot contain 'all'"));
  CHECK(r.problems[1].line == 5);
  CHECK_THAT(r.problems[1].message, Catch::Contains("cannot contain 'a'"));
  CHECK(r.children("a").empty());
}

TEST_CASE("inventory ini: host:port sets ansible_port, not for IPv6 addresses", "[ini]") {
  auto r = read(kHosts);
  REQUIRE(r.problems.empty());
  CHECK(scalar(r.var("host-c", "ansible_port")) == "2200");
  CHECK(r.var("host-c", "ansible_port").key == "[clients] host-c");

  auto s = read("[g]\nfe80::1\n2001:db8::22\n[fe80::2]:2222\n10.0.0.1:22\nbare:0\nzero:022\n"
                "h:23 ansible_port=24\nweb[1:2]:2201\n");
  INFO(s.problem_list());
  REQUIRE(s.problems.empty());
  CHECK(s.hosts("g") == Names{"fe80::1", "2001:db8::22", "fe80::2", "10.0.0.1", "bare", "zero", "h", "web1", "web2"});
  CHECK(s.source.host_vars.count("fe80::1"));
  CHECK_FALSE(s.has("fe80::1", "ansible_port"));
  CHECK_FALSE(s.has("2001:db8::22", "ansible_port"));
  CHECK(scalar(s.var("fe80::2", "ansible_port")) == "2222");
  CHECK(scalar(s.var("10.0.0.1", "ansible_port")) == "22");
  // Port 0 is no port, as in Ansible; leading zeros go.
  CHECK_FALSE(s.has("bare", "ansible_port"));
  CHECK(scalar(s.var("zero", "ansible_port")) == "22");
  // A variable on the line wins over the :port.
  CHECK(scalar(s.var("h", "ansible_port")) == "24");
  CHECK(scalar(s.var("web2", "ansible_port")) == "2201");
  // A later mention's port does not change the first (Ansible sets it when the host is new).
  auto t = read("a:1000\n[g]\na:2000\n");
  CHECK(scalar(t.var("a", "ansible_port")) == "1000");
  // Not a host name before the ':': the whole is the name.
  auto u = read("odd_:22\n");
  CHECK(u.hosts("ungrouped") == Names{"odd_:22"});
}

TEST_CASE("inventory ini: a host ending in ':' is a problem", "[ini]") {
  auto r = read("\n\n[g]\nhost:\n");
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].line == 4);
  CHECK(r.problems[0].key == "[g] host:");
  CHECK_THAT(r.problems[0].message, Catch::Contains("reserved for a port"));
}

TEST_CASE("inventory ini: ranges expand, every host gets the line's variables", "[ini]") {
  auto r = read("[web]\nwww[01:03].example.com http_port=8080 role=web\ndb-[a:b]\n");
  INFO(r.problem_list());
  REQUIRE(r.problems.empty());
  CHECK(r.hosts("web") == Names{"www01.example.com", "www02.example.com", "www03.example.com", "db-a", "db-b"});
  for (const char* h : {"www01.example.com", "www02.example.com", "www03.example.com"}) {
    CHECK(scalar(r.var(h, "http_port")) == "8080");
    CHECK(scalar(r.var(h, "role")) == "web");
    CHECK(r.var(h, "role").key == std::string("[web] ") + h);
  }
  auto bad = read("[web]\nok\nwww[3:1]\n");
  REQUIRE(bad.problems.size() == 1);
  CHECK(bad.problems[0].line == 3);
  CHECK(bad.problems[0].key == "[web] www[3:1]");
  CHECK_THAT(bad.problems[0].message, Catch::Contains("begins after its end"));
  CHECK(bad.hosts("web") == Names{"ok"});
}

TEST_CASE("inventory ini: inline values are typed like Python literals", "[ini]") {
  auto r = read("h port=8080 neg=-3 hex=0x1F big=1_000 f=1.50 e=1e3 tiny=1e-5 yes=True no=False "
                "word=false none=None list=\"[1, 'two', [3]]\" tuple=\"(1,)\" dict=\"{'a': 1, 'b': [True]}\" "
                "str=\"'8080'\" math=10-5 leading=010\n");
  INFO(r.problem_list());
  REQUIRE(r.problems.empty());
  CHECK(scalar(r.var("h", "port")) == "8080");
  CHECK(scalar(r.var("h", "neg")) == "-3");
  CHECK(scalar(r.var("h", "hex")) == "31");
  CHECK(scalar(r.var("h", "big")) == "1000");
  CHECK(scalar(r.var("h", "f")) == "1.5");
  CHECK(scalar(r.var("h", "e")) == "1000.0");
  CHECK(scalar(r.var("h", "tiny")) == "1e-05");
  CHECK(scalar(r.var("h", "yes")) == "True");
  CHECK(scalar(r.var("h", "no")) == "False");
  CHECK(scalar(r.var("h", "word")) == "false");
  CHECK(r.var("h", "none").value.IsNull());
  const YAML::Node list = r.var("h", "list").value;
  REQUIRE(list.IsSequence());
  REQUIRE(list.size() == 3);
  CHECK(list[0].as<std::string>() == "1");
  CHECK(list[1].as<std::string>() == "two");
  REQUIRE(list[2].IsSequence());
  CHECK(list[2][0].as<std::string>() == "3");
  REQUIRE(r.var("h", "tuple").value.IsSequence());
  CHECK(r.var("h", "tuple").value.size() == 1);
  const YAML::Node dict = r.var("h", "dict").value;
  REQUIRE(dict.IsMap());
  CHECK(dict["a"].as<std::string>() == "1");
  CHECK(dict["b"][0].as<std::string>() == "True");
  CHECK(scalar(r.var("h", "str")) == "8080");
  // Not literals: the text itself.
  CHECK(scalar(r.var("h", "math")) == "10-5");
  CHECK(scalar(r.var("h", "leading")) == "010");
}

TEST_CASE("inventory ini: parse_ini_value follows literal_eval", "[ini]") {
  CHECK(value_scalar("'a' \"b\"") == "ab");
  CHECK(value_scalar("'tab\\there'") == "tab\there");
  CHECK(value_scalar("r'\\d+'") == "\\d+");
  CHECK(value_scalar("'\\x41\\u00e9\\101'") == "A\xC3\xA9" "A");
  CHECK(value_scalar("b'bytes'") == "bytes");
  CHECK(value_scalar("'''tri'ple'''") == "tri'ple");
  CHECK(value_scalar("1e16") == "1e+16");
  CHECK(value_scalar("123456789012345.0") == "123456789012345.0");
  CHECK(value_scalar("0.0001") == "0.0001");
  CHECK(value_scalar("-0.0") == "-0.0");
  CHECK(value_scalar("1e999") == "inf");
  CHECK(value_scalar("2j") == "2j");
  CHECK(value_scalar("1+2j") == "(1+2j)");
  CHECK(value_scalar("-(1)") == "-1");
  CHECK(value_scalar("...") == "...");
  CHECK(value_scalar("  7") == "7");
  CHECK(value_scalar("7 # a comment") == "7");
  CHECK(value("1, 2").IsSequence());
  CHECK(value("set()").IsSequence());
  CHECK(value("{3, 1, 3}").size() == 2);
  CHECK(value("{}").IsMap());
  CHECK(value("{'a': 1, 'a': 2}")["a"].as<std::string>() == "2");
  // Not literals.
  for (const char* text : {"hello", "true", "--1", "1 + 2", "[1, 2", "f'x'", "'\\N{DASH}'", "0777", "1_", "x()",
                           "a b", "", "(1)(2)", "0x", "'\\ud800'"})
    CHECK(value_scalar(text) == text);
  // Nested too deep for Python.
  const std::string deep = std::string(201, '[') + std::string(201, ']');
  CHECK(value_scalar(deep) == deep);
  CHECK(value(std::string(200, '[') + std::string(200, ']')).IsSequence());
  // Where Ansible fails too: an unhashable dict key or set member.
  auto bad = parse_ini_value("{[1]: 2}");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("a list cannot be a dict key"));
  CHECK_FALSE(parse_ini_value("{1, {}}").ok());
  // ... unless it is no literal at all before that.
  CHECK(value_scalar("{[1]: x}") == "{[1]: x}");
}

TEST_CASE("inventory ini: host lines split like a shell, quotes kept together", "[ini]") {
  auto r = read("h a=\"two words\" b='it''s' c=x\\ y d=\"q\\\"q\" f=\"#in quotes\" e=a#not-a-var g=1\n");
  INFO(r.problem_list());
  REQUIRE(r.problems.empty());
  CHECK(scalar(r.var("h", "a")) == "two words");
  CHECK(scalar(r.var("h", "b")) == "its");
  CHECK(scalar(r.var("h", "c")) == "x y");
  CHECK(scalar(r.var("h", "d")) == "q\"q");
  // '#' starts a comment even inside a word, as shlex does.
  CHECK(scalar(r.var("h", "e")) == "a");
  CHECK(scalar(r.var("h", "f")) == "#in quotes");
  CHECK_FALSE(r.has("h", "g"));
  CHECK(r.has("h", "e"));
  // The documented way to keep a '#' and a string: quotes in quotes.
  auto s = read("tomcat3 mysecret=\"'03#pa33w0rd'\" opts=k=v=w\n");
  CHECK(scalar(s.var("tomcat3", "mysecret")) == "03#pa33w0rd");
  CHECK(scalar(s.var("tomcat3", "opts")) == "k=v=w");
}

TEST_CASE("inventory ini: comments, blank lines and line endings", "[ini]") {
  auto r = read("  # indented comment\r\n;semicolon\r\n\r\n[g]   # a comment after the header\r\nh1\rh2\n");
  INFO(r.problem_list());
  REQUIRE(r.problems.empty());
  CHECK(r.hosts("g") == Names{"h1", "h2"});
  CHECK(r.source.host_order == Names{"h1", "h2"});
  auto lines = read("a\n\n[g]\nb x=1\rc y=2\n");
  CHECK(lines.var("c", "y").line == 5);
}

TEST_CASE("inventory ini: bad lines are problems with their line numbers; reading goes on", "[ini]") {
  auto r = read("[g]\nh novalue\nh2 'open\n[g:vars]\nno equals sign\n[bad header]\nx\n[x:foo]\ny\n[g:children]\n"
                "a:b\n[good]\nfine\n");
  INFO(r.problem_list());
  REQUIRE(r.problems.size() == 6);
  CHECK(r.problems[0].line == 2);
  CHECK(r.problems[0].key == "[g] h");
  CHECK_THAT(r.problems[0].message, Catch::Contains("expected key=value after the host name, got 'novalue'"));
  CHECK(r.problems[1].line == 3);
  CHECK_THAT(r.problems[1].message, Catch::Contains("no closing quotation"));
  CHECK(r.problems[2].line == 5);
  CHECK(r.problems[2].key == "[g:vars]");
  CHECK_THAT(r.problems[2].message, Catch::Contains("expected key=value"));
  CHECK(r.problems[3].line == 6);
  CHECK(r.problems[3].key == "[bad header]");
  CHECK_THAT(r.problems[3].message, Catch::Contains("not a section header"));
  CHECK(r.problems[4].line == 8);
  CHECK(r.problems[4].str() == "hosts.ini:8: [x:foo]: unknown section type 'foo' (hosts, vars or children)");
  CHECK(r.problems[5].line == 11);
  CHECK(r.problems[5].key == "[g:children]");
  CHECK_THAT(r.problems[5].message, Catch::Contains("expected a group name, got 'a:b'"));
  // Lines under a bad header are not read into the group before it.
  CHECK(r.hosts("g").empty());
  CHECK(r.hosts("good") == Names{"fine"});
  for (const auto& p : r.problems) CHECK(p.file == "hosts.ini");
}

TEST_CASE("inventory ini: host names that Ansible refuses are problems", "[ini]") {
  auto r = read("---\n'' x=1\nh =1\nh bad={[1]:2}\n");
  REQUIRE(r.problems.size() == 4);
  CHECK_THAT(r.problems[0].message, Catch::Contains("YAML"));
  CHECK_THAT(r.problems[1].message, Catch::Contains("empty host name"));
  CHECK_THAT(r.problems[2].message, Catch::Contains("no variable name"));
  CHECK(r.problems[3].key == "[ungrouped] h bad");
  CHECK_THAT(r.problems[3].message, Catch::Contains("unhashable"));
  CHECK(r.source.host_order.empty());
}

TEST_CASE("inventory ini: a line over 64 KiB and text that is not UTF-8 are problems", "[ini]") {
  auto r = read("[g]\nh1\n" + std::string(kMaxIniLineBytes + 1, 'x') + "\nh2\n");
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].line == 3);
  CHECK_THAT(r.problems[0].message, Catch::Contains("longer than 64 KiB"));
  CHECK(r.hosts("g") == Names{"h1", "h2"});
  // Only comment lines may be other than UTF-8.
  auto u = read("# caf\xE9\n[g]\nh\xE9\nh2\n");
  REQUIRE(u.problems.size() == 1);
  CHECK(u.problems[0].line == 3);
  CHECK_THAT(u.problems[0].message, Catch::Contains("not UTF-8"));
  CHECK(u.hosts("g") == Names{"h2"});
}

TEST_CASE("inventory ini: the host cap stops adding hosts, once, with a problem", "[ini]") {
  auto r = read("a\nb\n[g]\nc\nd\nb\n[g:vars]\nx=1\n", 3);
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].line == 5);
  CHECK(r.problems[0].key == "[g] d");
  CHECK_THAT(r.problems[0].message, Catch::Contains("more than 3 hosts"));
  CHECK(r.source.host_order == Names{"a", "b", "c"});
  // Other sections are still read.
  CHECK(scalar(r.group_var("g", "x")) == "1");
  // A range over the cap is one problem at its line.
  auto range = read("[g]\nh[1:5]\n", 3);
  REQUIRE(range.problems.size() == 1);
  CHECK(range.problems[0].line == 2);
  CHECK_THAT(range.problems[0].message, Catch::Contains("more than 3 names"));
  // Hosts of an earlier source count.
  Read t;
  t.source.add_host("all", "old1");
  t.source.add_host("all", "old2");
  read_ini_inventory("new1\nnew2\n", "two.ini", t.source, t.problems, 3);
  CHECK(t.problems.size() == 1);
  CHECK(t.source.host_order == Names{"old1", "old2", "new1"});
}

TEST_CASE("inventory ini: a range repeated on every line stops at the work budget", "[ini]") {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "[g" + std::to_string(i) + "]\nh[1:100]\n";
  auto r = read(text, 100);
  // 100 hosts x 16 entries: the 17th line is refused.
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].line == 34);
  CHECK_THAT(r.problems[0].message, Catch::Contains("host entries and variables"));
  CHECK(r.source.host_count() == 100);
  CHECK(r.hosts("g15").size() == 100);
  CHECK(r.hosts("g16").empty());
}

TEST_CASE("inventory ini: a big group is read in linear time", "[ini]") {
  auto r = read("[many]\nhost[1:100000]\n[many:children]\n" + [] {
    std::string s;
    for (int i = 0; i < 20000; ++i) s += "c" + std::to_string(i) + "\n[c" + std::to_string(i) + "]\n[many:children]\n";
    return s;
  }());
  INFO(r.problems.size());
  REQUIRE(r.problems.empty());
  CHECK(r.hosts("many").size() == 100000);
  CHECK(r.children("many").size() == 20000);
}
