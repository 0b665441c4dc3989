#include "core/shell_quote.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <sys/wait.h>

using rs::Quoting;
using rs::shell_join;
using rs::shell_quote;

TEST_CASE("shell_quote leaves safe words bare and quotes the rest") {
  CHECK(shell_quote("/etc/sysctl.d/99-x.conf") == "/etc/sysctl.d/99-x.conf");
  CHECK(shell_quote("--opt=a,b:c@d%e+f") == "--opt=a,b:c@d%e+f");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("$HOME") == "'$HOME'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote(std::string("a\nb")) == "'a\nb'");
}

TEST_CASE("shell_quote always quotes when asked") {
  CHECK(shell_quote("demo", Quoting::always) == "'demo'");
  CHECK(shell_quote("/x/it's/config", Quoting::always) == "'/x/it'\\''s/config'");
  CHECK(shell_quote("", Quoting::always) == "''");
}

TEST_CASE("shell_join keeps every argument one word") {
  CHECK(shell_join({"sh", "-c", "cat > \"$1\"", "sh", "/etc/it's"}) == R"(sh -c 'cat > "$1"' sh '/etc/it'\''s')");
  CHECK(shell_join({}) == "");
  // What /bin/sh makes of the joined string is the argv it came from.
  std::vector<std::string> argv = {"printf", "%s|", "a b", "it's", "", "$(x)", "`y`", "\\", "*"};
  FILE* p = ::popen(shell_join(argv).c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[256];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  CHECK(WEXITSTATUS(::pclose(p)) == 0);
  CHECK(out == "a b|it's||$(x)|`y`|\\|*|");
}
