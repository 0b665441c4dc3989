#include "agent/run/host_pattern.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using Names = std::vector<std::string>;

namespace {

// webservers: web1 web2 web3; dbservers: db1 db2; prod and staging across both; one host
// only in "ungrouped"; "empty" has no hosts.
struct Inventory {
  PatternHosts hosts = {
      {"web1", {"all", "webservers", "prod"}},
      {"web2", {"all", "webservers", "staging"}},
      {"web3", {"all", "webservers", "prod"}},
      {"db1", {"all", "dbservers", "prod"}},
      {"db2", {"all", "dbservers", "staging"}},
      {"lb.example.com", {"all", "ungrouped"}},
  };
  std::set<std::string> groups = {"all", "ungrouped", "webservers", "dbservers", "prod", "staging", "empty"};

  rs::Result<Names> match(const std::string& pattern) const {
    return match_host_pattern(pattern, HostPatternView{hosts, groups});
  }

  Names names(const std::string& pattern) const {
    auto r = match(pattern);
    INFO("pattern '" << pattern << "': " << (r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
    return *r;
  }

  rs::Error error(const std::string& pattern) const {
    auto r = match(pattern);
    INFO("pattern '" << pattern << "'");
    REQUIRE_FALSE(r.ok());
    return r.error();
  }
};

const Names kAll = {"web1", "web2", "web3", "db1", "db2", "lb.example.com"};

}  // namespace

TEST_CASE("host pattern: all and * select every host in inventory order") {
  Inventory inv;
  CHECK(inv.names("all") == kAll);
  CHECK(inv.names("*") == kAll);
  // Ansible matches globs against the group "all" too.
  CHECK(inv.names("al*") == kAll);
  CHECK(inv.names("all:webservers") == kAll);
}

TEST_CASE("host pattern: a host or group name selects it") {
  Inventory inv;
  CHECK(inv.names("web2") == Names{"web2"});
  CHECK(inv.names("lb.example.com") == Names{"lb.example.com"});
  CHECK(inv.names("dbservers") == Names{"db1", "db2"});
  CHECK(inv.names("prod") == Names{"web1", "web3", "db1"});
  CHECK(inv.names("ungrouped") == Names{"lb.example.com"});
  // A group without hosts is no error.
  CHECK(inv.names("empty").empty());
  // Names are case-sensitive, as fnmatch.translate + re.match are.
  CHECK_FALSE(inv.match("WEB1").ok());

  // A name that is a host's is that host, before any group of that name (_evaluate_patterns).
  Inventory clash;
  clash.hosts.push_back({"both", {"all"}});
  clash.hosts[0].second.insert("both");
  clash.groups.insert("both");
  CHECK(clash.names("both") == Names{"both"});
  // With '!' the term is no host's name: the group and, as it is plain, not the host.
  CHECK(clash.names("webservers:!both") == Names{"web2", "web3"});
}

TEST_CASE("host pattern: globs with * and ? match group and host names") {
  Inventory inv;
  // The group webservers and the hosts web1..3, each once.
  CHECK(inv.names("web*") == Names{"web1", "web2", "web3"});
  CHECK(inv.names("d*") == Names{"db1", "db2"});
  CHECK(inv.names("?b1") == Names{"db1"});
  CHECK(inv.names("web?") == Names{"web1", "web2", "web3"});
  CHECK(inv.names("*.example.com") == Names{"lb.example.com"});
  CHECK(inv.names("st*") == Names{"web2", "db2"});
  // A glob that matches nothing is no error (Ansible warns and goes on).
  CHECK(inv.names("nomatch*").empty());
  CHECK(inv.names("x?").empty());
}

TEST_CASE("host pattern: unions with ':' and ','") {
  Inventory inv;
  CHECK(inv.names("web1:db1") == Names{"web1", "db1"});
  CHECK(inv.names("web1,db1") == Names{"web1", "db1"});
  CHECK(inv.names("webservers:dbservers") == Names{"web1", "web2", "web3", "db1", "db2"});
  CHECK(inv.names("staging,prod") == Names{"web2", "db2", "web1", "web3", "db1"});
  // In the order the terms found them, each once (as ansible 2.14 lists them).
  CHECK(inv.names("db1:web1:web1") == Names{"db1", "web1"});
  CHECK(inv.names("db2,dbservers,d*") == Names{"db2", "db1"});
  CHECK(inv.names("dbservers:all") == Names{"db1", "db2", "web1", "web2", "web3", "lb.example.com"});
  // Where a ',' is, ':' separates nothing (split_host_pattern).
  auto e = inv.error("web1:db1,web2");
  CHECK(e.code == rs::Errc::not_found);
  CHECK(e.message == "pattern 'web1:db1,web2': no host or group 'web1:db1'");
}

TEST_CASE("host pattern: '!' excludes and '&' intersects, after the plain terms") {
  Inventory inv;
  CHECK(inv.names("webservers:!prod") == Names{"web2"});
  CHECK(inv.names("webservers:&prod") == Names{"web1", "web3"});
  CHECK(inv.names("webservers:&prod:!web3") == Names{"web1"});
  // order_patterns: plain terms, then '&', then '!', wherever they are written.
  CHECK(inv.names("!prod:webservers") == inv.names("webservers:!prod"));
  CHECK(inv.names("!prod:dbservers") == Names{"db2"});  // not (all - prod) + dbservers
  CHECK(inv.names("&prod:webservers") == Names{"web1", "web3"});  // not (all & prod) + webservers
  CHECK(inv.names("!web3:&prod:webservers") == Names{"web1"});
  CHECK(inv.names("webservers:!web1:&prod") == Names{"web3"});
  CHECK(inv.names("!web1,&prod,webservers") == Names{"web3"});
  // Only '!' and '&' terms: they start from all.
  CHECK(inv.names("!prod") == Names{"web2", "db2", "lb.example.com"});
  CHECK(inv.names("&staging") == Names{"web2", "db2"});
  CHECK(inv.names("&staging:&dbservers") == Names{"db2"});
  CHECK(inv.names("!webservers:!dbservers") == Names{"lb.example.com"});
  // Two intersections narrow in turn, an exclusion of what is absent changes nothing.
  CHECK(inv.names("all:&prod:&webservers") == Names{"web1", "web3"});
  CHECK(inv.names("dbservers:!webservers") == Names{"db1", "db2"});
  // '!' and '&' take globs and regexes too.
  CHECK(inv.names("all:!web*") == Names{"db1", "db2", "lb.example.com"});
  CHECK(inv.names("all:&~db") == Names{"db1", "db2"});
}

TEST_CASE("host pattern: subscripts pick a group's hosts by position, the end inclusive") {
  Inventory inv;
  CHECK(inv.names("webservers[0]") == Names{"web1"});
  CHECK(inv.names("webservers[1]") == Names{"web2"});
  CHECK(inv.names("webservers[-1]") == Names{"web3"});
  CHECK(inv.names("webservers[-3]") == Names{"web1"});
  // _apply_subscript returns hosts[start:end + 1].
  CHECK(inv.names("webservers[0:1]") == Names{"web1", "web2"});
  CHECK(inv.names("webservers[0:2]") == Names{"web1", "web2", "web3"});
  CHECK(inv.names("webservers[1:1]") == Names{"web2"});
  CHECK(inv.names("webservers[1:]") == Names{"web2", "web3"});
  CHECK(inv.names("webservers[2:]") == Names{"web3"});
  // "[x-y]", the old spelling, still works in 2.14 (with a warning there).
  CHECK(inv.names("webservers[1-2]") == Names{"web2", "web3"});
  CHECK(inv.names("webservers[0-]") == Names{"web1", "web2", "web3"});
  // An end of 0 is Python-false: "[x:0]" is "[x]".
  CHECK(inv.names("webservers[2:0]") == Names{"web3"});
  CHECK(inv.names("webservers[0:0]") == Names{"web1"});
  // A start past the end in a range is an empty slice.
  CHECK(inv.names("webservers[2:1]").empty());
  // A group's hosts are in inventory order, its children's included.
  CHECK(inv.names("prod[2]") == Names{"db1"});
  CHECK(inv.names("all[-1]") == Names{"lb.example.com"});
  // On a host's name, and in unions.
  CHECK(inv.names("web2[0]") == Names{"web2"});
  CHECK(inv.names("webservers[0]:dbservers[-1]") == Names{"web1", "db2"});
  CHECK(inv.names("webservers[0],dbservers[1:]") == Names{"web1", "db2"});
}

TEST_CASE("host pattern: '[:2]' is no subscript in Ansible 2.14") {
  Inventory inv;
  // PATTERN_WITH_SUBSCRIPT needs a start; the term stays a name, which names nothing.
  auto e = inv.error("webservers[:2]");
  CHECK(e.code == rs::Errc::not_found);
  CHECK(e.message.find("no host or group 'webservers[:2]'") != std::string::npos);
  CHECK(e.message.find("'[0:2]' is the first three hosts") != std::string::npos);
  // Nor is a negative range.
  CHECK_FALSE(inv.match("webservers[-2:]").ok());
}

TEST_CASE("host pattern: out of range subscripts") {
  Inventory inv;
  // A single index past either end: Python's IndexError, an error in Ansible.
  auto e = inv.error("webservers[3]");
  CHECK(e.code == rs::Errc::not_found);
  CHECK(e.message == "pattern 'webservers[3]': 'webservers[3]': index 3 is out of range (3 hosts)");
  CHECK(inv.error("webservers[-4]").code == rs::Errc::not_found);
  CHECK(inv.error("dbservers:webservers[99999999999999999999]").code == rs::Errc::not_found);
  CHECK(inv.error("webservers[5:0]").code == rs::Errc::not_found);
  // A range is a slice: cut at the end, maybe empty.
  CHECK(inv.names("webservers[1:99]") == Names{"web2", "web3"});
  CHECK(inv.names("webservers[5:7]").empty());
  CHECK(inv.names("webservers[5:]").empty());
  // A group without hosts takes any subscript.
  CHECK(inv.names("empty[0]").empty());
  CHECK(inv.names("empty[-1]").empty());
  // A plain name that is neither host nor group is still that error.
  CHECK(inv.error("nosuch[0]").message == "pattern 'nosuch[0]': no host or group 'nosuch'");
}

TEST_CASE("host pattern: subscripts on a glob, with '!' and '&'") {
  Inventory inv;
  CHECK(inv.names("db?[1]") == Names{"db2"});
  CHECK(inv.names("web*[0]") == Names{"web1"});
  CHECK(inv.names("*.example.com[0]") == Names{"lb.example.com"});
  // As Ansible: a glob's list is the matching groups' hosts, then the matching hosts, repeats
  // kept: "web*" is webservers (web1 web2 web3) then web1 web2 web3.
  CHECK(inv.names("web*[-1]") == Names{"web3"});
  CHECK(inv.names("web*[3]") == Names{"web1"});
  // [2:4], both ends included: web3 web1 web2, in that order.
  CHECK(inv.names("web*[2:4]") == Names{"web3", "web1", "web2"});
  CHECK(inv.error("web*[6]").code == rs::Errc::not_found);
  CHECK(inv.names("nomatch*[0]").empty());
  CHECK(inv.names("!webservers[0]") == Names{"web2", "web3", "db1", "db2", "lb.example.com"});
  CHECK(inv.names("webservers:&prod[0]") == Names{"web1"});
  CHECK(inv.names("all:!prod[1:]") == Names{"web1", "web2", "db2", "lb.example.com"});
}

TEST_CASE("host pattern: ~regex terms match from the start, as Python's re.match") {
  Inventory inv;
  CHECK(inv.names("~web[12]") == Names{"web1", "web2"});
  CHECK(inv.names("~(web|db)1") == Names{"web1", "db1"});
  CHECK(inv.names("~.*\\.example\\.com") == Names{"lb.example.com"});
  // Anchored at the start only: a prefix of a name is a match, a middle is not.
  CHECK(inv.names("~we") == Names{"web1", "web2", "web3"});
  CHECK(inv.names("~eb").empty());
  CHECK(inv.names("~.*eb1") == Names{"web1"});
  // Group names too: "pro" begins "prod".
  CHECK(inv.names("~pro") == Names{"web1", "web3", "db1"});
  CHECK(inv.names("~db") == Names{"db1", "db2"});
  // A regex has no subscript: "[1]" is a character class.
  CHECK(inv.names("~web[1]") == Names{"web1"});
  CHECK(inv.names("~db[0-9]:~web3") == Names{"db1", "db2", "web3"});
  // "~" alone is the empty regex, which matches everything.
  CHECK(inv.names("~") == kAll);
  // A regex that matches nothing is no error.
  CHECK(inv.names("~nothing").empty());
}

TEST_CASE("host pattern: an invalid regex is an error") {
  Inventory inv;
  auto e = inv.error("~web(");
  CHECK(e.code == rs::Errc::invalid_argument);
  CHECK(e.message.rfind("pattern '~web(': invalid regular expression '~web(': ", 0) == 0);
  CHECK(inv.error("all:!~[z-a]").code == rs::Errc::invalid_argument);
  CHECK(inv.error("~*").code == rs::Errc::invalid_argument);
}

TEST_CASE("host pattern: over-long regexes and patterns are errors") {
  Inventory inv;
  const std::string longest(kMaxHostPatternRegexLength, 'a');
  CHECK(inv.names("~" + longest).empty());
  auto e = inv.error("~" + longest + "a");
  CHECK(e.code == rs::Errc::invalid_argument);
  CHECK(e.message.find("is longer than 512 characters") != std::string::npos);
  // The message quotes a cut pattern.
  CHECK(e.message.size() < 600);

  std::string pattern = "web1";
  while (pattern.size() <= kMaxHostPatternLength - 5) pattern += ",web1";
  CHECK(inv.names(pattern) == Names{"web1"});
  pattern += ",web1";
  REQUIRE(pattern.size() > kMaxHostPatternLength);
  auto too_long = inv.error(pattern);
  CHECK(too_long.code == rs::Errc::invalid_argument);
  CHECK(too_long.message == "host pattern of " + std::to_string(pattern.size()) + " characters is longer than 65536");
}

TEST_CASE("host pattern: brackets keep their ':' when ':' separates") {
  CHECK(split_host_pattern("web[1:2]:db") == Names{"web[1:2]", "db"});
  CHECK(split_host_pattern("foo:bar:baz[1:2]") == Names{"foo", "bar", "baz[1:2]"});
  CHECK(split_host_pattern("foo[1:2]") == Names{"foo[1:2]"});
  CHECK(split_host_pattern("~web[0-9:]:db") == Names{"~web[0-9:]", "db"});
  // An unclosed '[' or a lone ']' is dropped, as re.findall skips what it cannot match.
  CHECK(split_host_pattern("web[0:db") == Names{"web", "0", "db"});
  CHECK(split_host_pattern("a]b:c") == Names{"a", "b", "c"});

  Inventory inv;
  CHECK(inv.names("webservers[0:1]:dbservers[1]") == Names{"web1", "web2", "db2"});
  CHECK(inv.names("dbservers[1:]:!webservers[1:]") == Names{"db2"});
}

TEST_CASE("host pattern: an IPv6 address or a host with a port is one term") {
  // Ansible's own table (test/units/plugins/inventory/test_inventory.py).
  CHECK(split_host_pattern("9a01:7f8:191:7701::9") == Names{"9a01:7f8:191:7701::9"});
  CHECK(split_host_pattern("9a01:7f8:191:7701::9,9a01:7f8:191:7701::9,foo") ==
        Names{"9a01:7f8:191:7701::9", "9a01:7f8:191:7701::9", "foo"});
  CHECK(split_host_pattern("a::b") == Names{"a::b"});
  CHECK(split_host_pattern("a:b") == Names{"a", "b"});
  CHECK(split_host_pattern("::1") == Names{"::1"});
  CHECK(split_host_pattern("fe80::1") == Names{"fe80::1"});
  CHECK(split_host_pattern("1:2:3:4:5:6:7:8") == Names{"1:2:3:4:5:6:7:8"});
  CHECK(split_host_pattern("::ffff:192.0.2.3") == Names{"::ffff:192.0.2.3"});
  CHECK(split_host_pattern("[fe80::1]:22") == Names{"[fe80::1]:22"});
  CHECK(split_host_pattern("fe80::[a:f]") == Names{"fe80::[a:f]"});
  // parse_address's ipv6 regex is `^A|B|...`: a valid prefix is enough.
  CHECK(split_host_pattern("cafe::x") == Names{"cafe::x"});
  // Only hex: "dead:beef" is no IPv6 address, "web:db" none at all.
  CHECK(split_host_pattern("dead:beef") == Names{"dead", "beef"});
  CHECK(split_host_pattern("all:!db") == Names{"all", "!db"});
  CHECK(split_host_pattern("ab:&cd") == Names{"ab", "&cd"});
  // A name with a port, or an IPv4 address with one, is one address.
  CHECK(split_host_pattern("web1:22") == Names{"web1:22"});
  CHECK(split_host_pattern("192.0.2.1:22") == Names{"192.0.2.1:22"});
  CHECK(split_host_pattern("db[1:3].example.com:22") == Names{"db[1:3].example.com:22"});
  CHECK(split_host_pattern("web1:2x") == Names{"web1", "2x"});

  Inventory inv;
  inv.hosts.push_back({"fe80::1", {"all", "ungrouped"}});
  inv.hosts.push_back({"2001:db8::7", {"all", "ungrouped"}});
  CHECK(inv.names("fe80::1") == Names{"fe80::1"});
  CHECK(inv.names("fe80::1,2001:db8::7") == Names{"fe80::1", "2001:db8::7"});
  CHECK(inv.names("ungrouped:!lb.example.com") == Names{"fe80::1", "2001:db8::7"});
  CHECK(inv.names("fe80::*") == Names{"fe80::1"});
  CHECK(inv.names("~2001:") == Names{"2001:db8::7"});
}

TEST_CASE("host pattern: whitespace around terms is dropped") {
  // Ansible's own table.
  CHECK(split_host_pattern("a") == Names{"a"});
  CHECK(split_host_pattern("a, b") == Names{"a", "b"});
  CHECK(split_host_pattern("a , b") == Names{"a", "b"});
  CHECK(split_host_pattern(" a,b ,c[1:2] ") == Names{"a", "b", "c[1:2]"});
  CHECK(split_host_pattern(" a : b ") == Names{"a", "b"});
  CHECK(split_host_pattern("a,,b") == Names{"a", "b"});
  CHECK(split_host_pattern("a,  ,b,,c, ,") == Names{"a", "b", "c"});
  CHECK(split_host_pattern(",").empty());
  CHECK(split_host_pattern("").empty());
  // Without a ',' whitespace separates too; with one it stays inside a term.
  CHECK(split_host_pattern("a b\tc") == Names{"a", "b", "c"});
  CHECK(split_host_pattern("a b,c") == Names{"a b", "c"});

  Inventory inv;
  CHECK(inv.names(" web1 , db1 ") == Names{"web1", "db1"});
  CHECK(inv.names("\twebservers : !prod\n") == Names{"web2"});
  CHECK(inv.names("web1 db1") == Names{"web1", "db1"});
  CHECK(inv.error("web1 db1,web2").message == "pattern 'web1 db1,web2': no host or group 'web1 db1'");
}

TEST_CASE("host pattern: a plain name that is neither host nor group is an error") {
  Inventory inv;
  auto e = inv.error("nosuchgroup");
  CHECK(e.code == rs::Errc::not_found);
  CHECK(e.message == "pattern 'nosuchgroup': no host or group 'nosuchgroup'");
  CHECK(inv.error("webservers:!nosuch").message == "pattern 'webservers:!nosuch': no host or group 'nosuch'");
  CHECK(inv.error("webservers:&nosuch").code == rs::Errc::not_found);
  CHECK(inv.error("web1,nosuch.example.com").code == rs::Errc::not_found);
  // Globs and regexes that match nothing are not.
  CHECK(inv.names("webservers:!nosuch*") == Names{"web1", "web2", "web3"});
  CHECK(inv.names("webservers:!~nosuch") == Names{"web1", "web2", "web3"});
  // No term at all, or a '!' or '&' with nothing after it.
  CHECK(inv.error("").code == rs::Errc::invalid_argument);
  CHECK(inv.error(" , ").code == rs::Errc::invalid_argument);
  CHECK(inv.error("webservers:!").message == "pattern 'webservers:!': '!' needs a host or group after it");
  CHECK(inv.error("&").code == rs::Errc::invalid_argument);
}

TEST_CASE("host pattern: an empty inventory") {
  PatternHosts hosts;
  std::set<std::string> groups;
  HostPatternView view{hosts, groups};
  // "all" is a group whether listed or not.
  auto all = match_host_pattern("all", view);
  REQUIRE(all.ok());
  CHECK(all->empty());
  auto excluded = match_host_pattern("!x*", view);
  REQUIRE(excluded.ok());
  CHECK(excluded->empty());
  CHECK_FALSE(match_host_pattern("web1", view).ok());
}
