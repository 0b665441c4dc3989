#include "agent/host/become.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Errc;

namespace {

// Answers as sudo does on a host whose sudoers gives the ssh user `rule`: "nopasswd",
// "password" (asks for "s3cret" on stdin with -S), or "none" (not in sudoers); "missing":
// no sudo at all.
struct FakeSudo {
  std::string rule;
  std::vector<std::string> inputs;  // what each command got on stdin, after sudo's line

  std::unique_ptr<FakeCommandRunner> runner() {
    auto r = std::make_unique<FakeCommandRunner>();
    r->script = [this](const std::vector<std::string>& argv, const std::string& input) -> std::optional<CommandResult> {
      if (argv.at(0) != "sudo") return CommandResult{0, "", ""};
      if (rule == "missing") return CommandResult{127, "", "sh: 1: sudo: not found\n"};
      if (rule == "none") return CommandResult{1, "", "deploy is not in the sudoers file.\n"};
      const bool non_interactive = std::find(argv.begin(), argv.end(), "-n") != argv.end();
      const bool stdin_password = std::find(argv.begin(), argv.end(), "-S") != argv.end();
      std::string rest = input;
      if (rule == "password") {
        if (non_interactive) return CommandResult{1, "", "sudo: a password is required\n"};
        if (!stdin_password) return CommandResult{1, "", "sudo: a terminal is required to read the password\n"};
        auto nl = input.find('\n');
        if (nl == std::string::npos || input.substr(0, nl) != "s3cret")
          return CommandResult{1, "", "Sorry, try again.\nsudo: 1 incorrect password attempt\n"};
        rest = input.substr(nl + 1);
      }
      inputs.push_back(rest);
      auto cmd = std::find(argv.begin(), argv.end(), "--");
      return CommandResult{0, "ran " + *(cmd + 1), ""};
    };
    return r;
  }
};

}  // namespace

TEST_CASE("become: NOPASSWD sudo runs each command as the user, its input untouched") {
  FakeSudo sudo{"nopasswd", {}};
  auto runner = sudo.runner();
  auto* inner = runner.get();
  auto become = BecomeCommandRunner::open(std::move(runner), "root", std::string("unused"), "node1");
  REQUIRE(become.ok());
  CHECK_FALSE((*become)->password());
  // The probe ignores cached credentials, so NOPASSWD is what it found.
  CHECK(inner->calls.at(0) == std::vector<std::string>{"sudo", "-k", "-n", "-u", "root", "--", "true"});
  auto r = (*become)->run({"cat", "/etc/hostname"}, "data", std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK(r->out == "ran cat");
  CHECK(inner->calls.back() == std::vector<std::string>{"sudo", "-n", "-H", "-u", "root", "--", "cat", "/etc/hostname"});
  CHECK(sudo.inputs.back() == "data");
}

TEST_CASE("become: a password goes to sudo's stdin ahead of the input, never into argv") {
  FakeSudo sudo{"password", {}};
  auto runner = sudo.runner();
  auto* inner = runner.get();
  auto become = BecomeCommandRunner::open(std::move(runner), "root", std::string("s3cret"), "node1");
  REQUIRE(become.ok());
  REQUIRE((*become)->password());
  auto r = (*become)->run({"sh", "-c", "cat > /etc/x"}, "file body\n", std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK(sudo.inputs.back() == "file body\n");
  for (const auto& call : inner->calls)
    for (const auto& arg : call) CHECK(arg.find("s3cret") == std::string::npos);
  // -k: every command asks, so the password line is always read (never left for the command).
  CHECK(inner->calls.back() == std::vector<std::string>{"sudo", "-k", "-S", "-p", "", "-H", "-u", "root", "--", "sh", "-c",
                                                        "cat > /etc/x"});
}

TEST_CASE("become: each way sudo refuses is named") {
  auto open = [](const std::string& rule, std::optional<std::string> password) {
    FakeSudo sudo{rule, {}};
    return BecomeCommandRunner::open(sudo.runner(), "root", std::move(password), "node1");
  };
  auto missing = open("missing", std::nullopt);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("sudo is not installed on 'node1'"));
  auto none = open("none", std::nullopt);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::permission_denied);
  CHECK_THAT(none.error().message, Catch::Contains("may not use sudo on 'node1'"));
  auto no_password = open("password", std::nullopt);
  REQUIRE_FALSE(no_password.ok());
  CHECK_THAT(no_password.error().message, Catch::Contains("asks for a password: set ansible_become_password"));
  auto wrong = open("password", std::string("guess"));
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains("wrong password"));
  CHECK(wrong.error().message.find("guess") == std::string::npos);
}
