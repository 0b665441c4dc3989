#include "agent/modules/registry_service_module.hpp"
#include "agent/modules/registry_tls.hpp"
#include "registry/config.hpp"
#include "registry/htpasswd.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace rs::agent;
using namespace rs::agent::test;
using rs::Result;

TEST_CASE("registry_service: installs binary and unit, enables, starts, probes, then clean") {
  FakeHost h;
  TempDir src;
  write_text(src.path / "registry-setup", "#!binary v1");
  h.control.self_binary = (src.path / "registry-setup").string();
  std::vector<std::pair<std::string, int>> probes;
  h.control.probe_registry = [&](const std::string& host, int port, const std::string&) -> rs::Result<void> {
    probes.emplace_back(host, port);
    return rs::ok();
  };
  RegistryServiceConfig c;
  c.port = 5000;
  c.root = "/srv/registry";
  RegistryServiceAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 2);
  CHECK(diff->files[0].binary);
  REQUIRE(action.apply(h.ctx, *diff).ok());

  CHECK(read_text(h.at("/usr/local/bin/registry-setup")) == "#!binary v1");
  CHECK((std::filesystem::status(h.at("/usr/local/bin/registry-setup")).permissions() &
         std::filesystem::perms::owner_exec) != std::filesystem::perms::none);
  auto unit = read_text(h.at("/etc/systemd/system/registry-setup-registry.service"));
  CHECK_THAT(unit, Catch::Contains("Type=notify\n"));
  CHECK_THAT(unit, Catch::Contains("Restart=always\n"));
  // The server fits its connections under the open-file limit: room for 4096 of them.
  CHECK_THAT(unit, Catch::Contains("LimitNOFILE=65536\n"));
  CHECK_THAT(unit, Catch::Contains("ExecStart=/usr/local/bin/registry-setup serve --listen 0.0.0.0:5000 --root /srv/registry\n"));
  CHECK(h.systemd.reloads == 1);
  CHECK(h.systemd.enables == 1);
  CHECK(h.systemd.jobs == std::vector<std::string>{"start registry-setup-registry.service"});
  REQUIRE(probes.size() == 1);
  CHECK(probes[0] == std::make_pair(std::string("10.77.0.11"), 5000));
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  // A new binary (the digest is cached per path for a run, so a new run's binary is a new
  // path here) is copied again and the running service restarted.
  write_text(src.path / "registry-setup-v2", "#!binary v2");
  h.control.self_binary = (src.path / "registry-setup-v2").string();
  RegistryServiceAction upgrade(c);
  auto d2 = upgrade.check(h.ctx);
  REQUIRE(d2.ok());
  REQUIRE(d2->files.size() == 1);
  CHECK(d2->files[0].binary);
  REQUIRE(upgrade.apply(h.ctx, *d2).ok());
  CHECK(read_text(h.at("/usr/local/bin/registry-setup")) == "#!binary v2");
  CHECK(h.systemd.jobs.back() == "restart registry-setup-registry.service");
}

TEST_CASE("registry_service: a registry that does not answer GET /v2/ fails the task") {
  FakeHost h;
  TempDir src;
  write_text(src.path / "bin", "x");
  h.control.self_binary = (src.path / "bin").string();
  h.control.probe_registry = [](const std::string&, int, const std::string&) -> rs::Result<void> {
    return rs::make_error(rs::Errc::unavailable, "GET http://10.77.0.11:5000/v2/: Connection refused");
  };
  h.control.probe_attempts = 2;
  RegistryServiceConfig c;
  c.probe = true;
  RegistryServiceAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  auto r = action.apply(h.ctx, *diff);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("Connection refused"));
}

namespace {

unsigned file_mode(const std::filesystem::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

const FileChange* find_file(const Diff& d, const std::string& path) {
  for (const auto& f : d.files)
    if (f.path == path) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("registry_service: TLS from the control machine's authority, users, rules; nothing changes twice") {
  FakeHost h;
  TempDir control;
  write_text(control.path / "registry-setup", "#!binary");
  write_text(control.path / "alice.pw", "alice-pw\n");
  h.control.self_binary = (control.path / "registry-setup").string();
  std::vector<std::string> probed_cas;
  h.control.probe_registry = [&](const std::string&, int, const std::string& ca) -> rs::Result<void> {
    probed_cas.push_back(ca);
    return rs::ok();
  };
  RegistryServiceConfig c;
  c.tls = RegistryTls::self_signed;
  c.tls_dir = (control.path / "tls").string();
  c.users = {RegistryUser{"alice", (control.path / "alice.pw").string(), "", {{"**", "pull,push,delete"}}},
             RegistryUser{"bob", "", "$2y$04$pkQphvdbgA71XjnHaQKneOeWZ6mkggieIN1jlDvwh7ykXdGaxBC/q", {{"team/**", "pull"}}}};
  c.anonymous = {"public/**"};
  c.auth = "token";
  RegistryServiceAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  for (const auto* path : {"/etc/registry-setup/tls/registry.crt", "/etc/registry-setup/tls/registry.key",
                           "/etc/registry-setup/htpasswd", "/etc/registry-setup/registry.yml"})
    CHECK(find_file(*diff, path) != nullptr);
  CHECK(find_file(*diff, "/etc/registry-setup/tls/registry.key")->binary);
  CHECK(find_file(*diff, "/etc/registry-setup/htpasswd")->binary);
  CHECK(diff->warnings.empty());
  REQUIRE(action.apply(h.ctx, *diff).ok());

  CHECK(file_mode(h.at("/etc/registry-setup/tls/registry.key")) == 0600);
  CHECK(file_mode(h.at("/etc/registry-setup/htpasswd")) == 0600);
  auto ca = ensure_certificate_authority(c.tls_dir);
  REQUIRE(ca.ok());
  REQUIRE(probed_cas.size() == 1);
  CHECK(probed_cas[0] == ca->certificate_pem);
  KeyPair on_host{read_text(h.at("/etc/registry-setup/tls/registry.crt")), read_text(h.at("/etc/registry-setup/tls/registry.key"))};
  CHECK(judge_server_certificate(on_host, ca->certificate_pem, {"10.77.0.11", "host-a"}).empty());

  auto config = read_text(h.at("/etc/registry-setup/registry.yml"));
  CHECK_THAT(config, Catch::Contains("certificate: /etc/registry-setup/tls/registry.crt\n"));
  CHECK_THAT(config, Catch::Contains("path: /etc/registry-setup/htpasswd\n"));
  CHECK_THAT(config, Catch::Contains("signingkey: /etc/registry-setup/token.key\n"));
  CHECK_THAT(config, Catch::Contains(R"(- {repository: "public/**", anonymous: [pull]})"));
  CHECK_THAT(config, Catch::Contains(R"(- {repository: "team/**", users: {"bob": [pull]}})"));
  auto parsed = rs::registry::parse_config(config, "registry.yml");
  REQUIRE(parsed.ok());
  auto unit = read_text(h.at("/etc/systemd/system/registry-setup-registry.service"));
  CHECK_THAT(unit, Catch::Contains("ExecStart=/usr/local/bin/registry-setup serve --config /etc/registry-setup/registry.yml\n"));
  CHECK_THAT(unit, Catch::Contains("ExecReload=/bin/kill -HUP $MAINPID\n"));

  auto htpasswd = read_text(h.at("/etc/registry-setup/htpasswd"));
  auto users = rs::registry::parse_htpasswd(htpasswd, "htpasswd");
  REQUIRE(users.ok());
  REQUIRE(users->entries.size() == 2);
  CHECK(rs::registry::crypt_verify("alice-pw", users->entries[0].hash));
  CHECK(users->entries[1].hash == c.users[1].password_hash);

  // Same inputs: the certificate and the bcrypt hash stay (no new salt, no new key).
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  // A new password: only htpasswd changes, and the running server reads it without a restart.
  write_text(control.path / "alice.pw", "changed\n");
  auto pw = action.check(h.ctx);
  REQUIRE(pw.ok());
  REQUIRE(pw->files.size() == 1);
  CHECK(pw->files[0].path == "/etc/registry-setup/htpasswd");
  CHECK_FALSE(pw->has(ChangeKind::restart));

  // A certificate that is not valid for the host's address is issued again.
  auto elsewhere = issue_server_certificate(*ca, {"10.9.9.9"});
  REQUIRE(elsewhere.ok());
  write_text(h.at("/etc/registry-setup/tls/registry.crt"), elsewhere->certificate_pem);
  write_text(h.at("/etc/registry-setup/tls/registry.key"), elsewhere->key_pem);
  auto reissue = action.check(h.ctx);
  REQUIRE(reissue.ok());
  REQUIRE(find_file(*reissue, "/etc/registry-setup/tls/registry.crt") != nullptr);
  CHECK(reissue->has(ChangeKind::restart));
}

TEST_CASE("registry_service: without users the check warns that the registry is open") {
  FakeHost h;
  TempDir src;
  write_text(src.path / "bin", "x");
  h.control.self_binary = (src.path / "bin").string();
  RegistryServiceAction action(RegistryServiceConfig{});
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->warnings.size() == 1);
  CHECK_THAT(diff->warnings[0], Catch::Contains("anyone who reaches 10.77.0.11:5000 can push"));
}

TEST_CASE("registry_service: bad users, patterns and TLS arguments are problems named by key") {
  auto problems_of = [](const std::string& yaml) {
    YAML::Node args = YAML::Load(yaml);
    Params::ProblemList problems;
    Params params(args, problems);
    auto action = make_registry_service_action(params);
    CHECK((action == nullptr) == !problems.empty());
    std::string out;
    for (const auto& [k, m] : problems) out += k + ": " + m + "\n";
    return out;
  };
  CHECK(problems_of("{users: [{name: alice, password_file: /pw}]}").empty());
  CHECK_THAT(problems_of("{users: [{name: 'a:b', password_file: /pw}]}"), Catch::Contains("users[0]: name 'a:b'"));
  CHECK_THAT(problems_of("{users: [{name: a}]}"), Catch::Contains("needs exactly one of password_file"));
  CHECK_THAT(problems_of("{users: [{name: a, password_hash: '{SHA}x'}]}"), Catch::Contains("must be a bcrypt hash"));
  CHECK_THAT(problems_of("{users: [{name: a, password_file: /p}, {name: a, password_file: /q}]}"),
             Catch::Contains("listed twice"));
  CHECK_THAT(problems_of("{users: [{name: a, password_file: /p, access: [{repository: 'x**', actions: [pull]}]}]}"),
             Catch::Contains("users[0].access: 'x**'"));
  CHECK_THAT(problems_of("{users: [{name: a, password_file: /p, access: [{repository: x, actions: [fly]}]}]}"),
             Catch::Contains("actions are pull, push, delete"));
  CHECK_THAT(problems_of("{users: [{name: a, password_file: /p, pass: x}]}"), Catch::Contains("'pass' is unknown"));
  CHECK_THAT(problems_of("{anonymous: ['public/**']}"), Catch::Contains("anonymous: needs users"));
  CHECK_THAT(problems_of("{tls: self-signed}"), Catch::Contains("tls_dir: required"));
  CHECK_THAT(problems_of("{tls: files, tls_certificate: /c}"), Catch::Contains("tls_key: required"));
  CHECK_THAT(problems_of("{tls: maybe}"), Catch::Contains("tls: 'maybe' is not one of"));
  CHECK_THAT(problems_of("{auth: token}"), Catch::Contains("auth: token needs users"));
  CHECK_THAT(problems_of("{users: [{name: a, password_file: /p}], anonymous: [x]}"), Catch::Contains("needs auth: token"));
  CHECK(problems_of("{users: [{name: a, password_file: /p}], anonymous: [x], auth: token}").empty());
}

TEST_CASE("registry_service: tls files are copied as given, their problems are warnings, a change restarts") {
  FakeHost h;
  TempDir control;
  write_text(control.path / "bin", "x");
  h.control.self_binary = (control.path / "bin").string();
  auto ca = ensure_certificate_authority((control.path / "site-ca").string());
  REQUIRE(ca.ok());
  auto good = issue_server_certificate(*ca, {"10.77.0.11"});
  REQUIRE(good.ok());
  write_text(control.path / "reg.crt", good->certificate_pem);
  write_text(control.path / "reg.key", good->key_pem);
  write_text(control.path / "ca.crt", ca->certificate_pem);
  RegistryServiceConfig c;
  c.tls = RegistryTls::files;
  c.tls_certificate = (control.path / "reg.crt").string();
  c.tls_key = (control.path / "reg.key").string();
  c.tls_ca = (control.path / "ca.crt").string();
  RegistryServiceAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(find_file(*diff, c.certificate_path()) != nullptr);
  CHECK(find_file(*diff, c.certificate_path())->after == good->certificate_pem);
  CHECK(find_file(*diff, c.key_path())->after == good->key_pem);
  // Only the "open to anyone" warning: the files are good for the host's address.
  CHECK(diff->warnings.size() == 1);
  REQUIRE(action.apply(h.ctx, *diff).ok());
  auto client_ca = registry_client_ca(c, h.control);
  REQUIRE(client_ca.ok());
  CHECK(*client_ca == ca->certificate_pem);
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->files.empty());

  // A certificate for another address: copied all the same, with a warning naming why.
  auto other = issue_server_certificate(*ca, {"10.9.9.9"});
  REQUIRE(other.ok());
  write_text(control.path / "reg.crt", other->certificate_pem);
  write_text(control.path / "reg.key", other->key_pem);
  auto changed = action.check(h.ctx);
  REQUIRE(changed.ok());
  CHECK(find_file(*changed, c.certificate_path()) != nullptr);
  CHECK(changed->has(ChangeKind::restart));
  bool named = false;
  for (const auto& w : changed->warnings) named = named || w.find("not valid for '10.77.0.11'") != std::string::npos;
  CHECK(named);

  // A missing file on the control machine is an error naming the variable.
  std::filesystem::remove(control.path / "reg.key");
  auto missing = action.check(h.ctx);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("registry_tls_key"));
}
