#include "agent/host/ssh_command_runner.hpp"

#include "agent/host/sd_bus_systemd.hpp"
#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;

TEST_CASE("ssh: argv with BatchMode, connection reuse, port, key, user, the command stays argv") {
  FakeCommandRunner local;
  SshTarget t{"10.77.0.11", "root", 2222, "/k/id", {"-o", "StrictHostKeyChecking=no"}, "/tmp/rs-ssh-x"};
  SshCommandRunner ssh(local, t);
  REQUIRE(ssh.run({"sh", "-c", "cat > \"$1\"", "sh", "/etc/it's"}, "data", std::chrono::seconds(5)).ok());
  REQUIRE(local.calls.size() == 1);
  const auto& argv = local.calls[0];
  auto has = [&](const std::string& a, const std::string& b) {
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == a && argv[i + 1] == b) return true;
    return false;
  };
  CHECK(argv.front() == "ssh");
  CHECK(has("-o", "BatchMode=yes"));
  CHECK(has("-o", "ControlMaster=auto"));
  CHECK(has("-o", "ControlPath=/tmp/rs-ssh-x/%C"));
  CHECK(has("-p", "2222"));
  CHECK(has("-i", "/k/id"));
  CHECK(has("-l", "root"));
  CHECK(has("-o", "StrictHostKeyChecking=no"));
  CHECK(has("--", "10.77.0.11"));
  // One word for the remote shell, every argument quoted.
  CHECK(argv.back() == R"(sh -c 'cat > "$1"' sh '/etc/it'\''s')");
}

TEST_CASE("ssh: exit 255 is an unreachable host, other exits are values") {
  FakeCommandRunner local;
  SshCommandRunner ssh(local, SshTarget{"10.77.0.13", "", 22, "", {}, ""});
  local.results["ssh"] = CommandResult{255, "", "ssh: connect to host 10.77.0.13 port 22: No route to host\r\n"};
  auto r = ssh.run({"true"}, {}, std::chrono::seconds(5));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == rs::Errc::unavailable);
  CHECK(r.error().message == "ssh '10.77.0.13': ssh: connect to host 10.77.0.13 port 22: No route to host");
  local.results["ssh"] = CommandResult{3, "", ""};
  auto three = ssh.run({"false"}, {}, std::chrono::seconds(5));
  REQUIRE(three.ok());
  CHECK(three->exit_code == 3);
  // Without a control dir there is no reuse option.
  for (const auto& a : local.calls.back()) CHECK(a.find("ControlPath") == std::string::npos);
}

TEST_CASE("ssh: the sd-bus address runs systemd-stdio-bridge through the same ssh") {
  auto address = ssh_bus_address({"ssh", "-xT", "-o", "ControlPath=/tmp/d/%C", "--", "10.77.0.11"});
  CHECK(address ==
        "unixexec:path=ssh,argv0=ssh,argv1=-xT,argv2=-o,argv3=ControlPath%3d/tmp/d/%25C,argv4=--,"
        "argv5=10.77.0.11,argv6=systemd-stdio-bridge");
}

TEST_CASE("ssh: a connection dropped before the command ran is tried again, a refusal is not") {
  FakeCommandRunner local;
  int calls = 0;
  local.script = [&](const std::vector<std::string>&, const std::string&) -> std::optional<CommandResult> {
    ++calls;
    if (calls <= 2) return CommandResult{255, "", calls == 1 ? "" : "kex_exchange_identification: Connection closed by remote host\r\n"};
    return CommandResult{0, "up", ""};
  };
  SshCommandRunner ssh(local, SshTarget{"10.77.0.11", "", 22, "", {}, ""}, SshRetry{4, std::chrono::milliseconds(1)});
  auto r = ssh.run({"true"}, {}, std::chrono::seconds(5));
  REQUIRE(r.ok());
  CHECK(r->out == "up");
  CHECK(calls == 3);

  // Persisting: ssh's own words and the number of tries.
  calls = 0;
  local.script = [&](const std::vector<std::string>&, const std::string&) -> std::optional<CommandResult> {
    ++calls;
    return CommandResult{255, "", "\r\n"};
  };
  auto gone = ssh.run({"true"}, {}, std::chrono::seconds(5));
  REQUIRE_FALSE(gone.ok());
  CHECK(calls == 4);
  CHECK_THAT(gone.error().message, Catch::Contains("ssh said nothing") && Catch::Contains("(4 attempts)"));

  calls = 0;
  local.script = [&](const std::vector<std::string>&, const std::string&) -> std::optional<CommandResult> {
    ++calls;
    return CommandResult{255, "", "deploy@10.77.0.11: Permission denied (publickey).\r\n"};
  };
  auto refused = ssh.run({"true"}, {}, std::chrono::seconds(5));
  REQUIRE_FALSE(refused.ok());
  CHECK(calls == 1);
  CHECK(refused.error().message == "ssh '10.77.0.11': deploy@10.77.0.11: Permission denied (publickey).");
  CHECK(ssh_failed_before_command(""));
  CHECK(ssh_failed_before_command("mux_client_request_session: session request failed: Session open refused by peer"));
  CHECK_FALSE(ssh_failed_before_command("Host key verification failed."));
}
