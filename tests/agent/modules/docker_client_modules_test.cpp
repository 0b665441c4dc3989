// docker_registry_ca and docker_login: what a docker host needs for a TLS registry with users.
#include "agent/modules/docker_login_module.hpp"
#include "agent/modules/docker_registry_ca_module.hpp"
#include "agent/modules/registry_tls.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

using namespace rs::agent;
using namespace rs::agent::test;

TEST_CASE("docker_registry_ca: the control machine's CA lands in certs.d, once") {
  FakeHost h;
  TempDir control;
  const auto ca_dir = (control.path / "tls").string();
  write_text(control.path / "site-ca.crt", "-----BEGIN CERTIFICATE-----\nsite\n-----END CERTIFICATE-----\n");
  DockerRegistryCaAction action({{"10.77.0.11:5000", "", ca_dir}, {"10.77.0.12:5443", (control.path / "site-ca.crt").string(), ""}});
  CHECK(action.trusted_registries() == std::vector<std::string>{"10.77.0.11:5000", "10.77.0.12:5443"});
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 2);
  REQUIRE(action.apply(h.ctx, *diff).ok());
  auto ca = ensure_certificate_authority(ca_dir);
  REQUIRE(ca.ok());
  CHECK(read_text(h.at("/etc/docker/certs.d/10.77.0.11:5000/ca.crt")) == ca->certificate_pem);
  CHECK_THAT(read_text(h.at("/etc/docker/certs.d/10.77.0.12:5443/ca.crt")), Catch::Contains("site"));
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  DockerRegistryCaAction missing({{"10.77.0.11:5000", (control.path / "nope.crt").string(), ""}});
  auto r = missing.check(h.ctx);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("does not exist on the control machine"));
}

TEST_CASE("docker_login: an auths entry per registry, other keys kept, 0600, no rewrite when right") {
  FakeHost h;
  TempDir control;
  write_text(control.path / "ci.password", "s3cret\n");
  write_text(h.at("/root/.docker/config.json"),
             R"({"auths": {"other:5000": {"auth": "eDp5"}}, "credsStore": "", "experimental": "enabled"})");
  DockerLoginConfig c;
  c.registries = {"10.77.0.11:5000"};
  c.user = "ci";
  c.password_file = (control.path / "ci.password").string();
  DockerLoginAction action(c);
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  CHECK(diff->files[0].binary);  // a password is never shown in a diff
  REQUIRE(action.apply(h.ctx, *diff).ok());
  auto j = nlohmann::json::parse(read_text(h.at("/root/.docker/config.json")));
  CHECK(j["auths"]["10.77.0.11:5000"]["auth"] == "Y2k6czNjcmV0");  // base64("ci:s3cret")
  CHECK(j["auths"]["other:5000"]["auth"] == "eDp5");
  CHECK(j["experimental"] == "enabled");
  struct stat st{};
  REQUIRE(::stat(h.at("/root/.docker/config.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  // A new password: the entry changes.
  write_text(control.path / "ci.password", "other\n");
  auto changed = action.check(h.ctx);
  REQUIRE(changed.ok());
  CHECK(changed->files.size() == 1);

  // No user: nothing to do, nothing read.
  DockerLoginAction none(DockerLoginConfig{{"10.77.0.11:5000"}, "", "", "/root/.docker/config.json"});
  auto nothing = none.check(h.ctx);
  REQUIRE(nothing.ok());
  CHECK(nothing->empty());
  CHECK(docker_auth_value("a", "b") == "YTpi");
}

TEST_CASE("docker_login: a config.json that is not JSON is an error, never overwritten") {
  FakeHost h;
  TempDir control;
  write_text(control.path / "pw", "x\n");
  write_text(h.at("/root/.docker/config.json"), "{broken");
  DockerLoginAction action(DockerLoginConfig{{"r:5000"}, "ci", (control.path / "pw").string(), "/root/.docker/config.json"});
  auto r = action.check(h.ctx);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("is not valid JSON"));
}

TEST_CASE("docker_registry_ca: the insecure flag of a registry now on TLS leaves the drop-in, docker is not restarted") {
  FakeHost h;
  TempDir control;
  DockerRegistryConfig seed;
  seed.registries = {"10.77.0.11:5000", "10.77.0.12:5000"};
  seed.dropin = "/etc/systemd/system/docker.service.d/90-registry-setup.conf";
  DockerInsecureRegistryAction insecure(seed);
  auto before = insecure.check(h.ctx);
  REQUIRE(before.ok());
  REQUIRE(insecure.apply(h.ctx, *before).ok());
  REQUIRE(h.ctx.daemon_reload().ok());
  const int reloads = h.systemd.reloads;
  const auto jobs = h.systemd.jobs;

  DockerRegistryCaAction ca({{"10.77.0.11:5000", "", (control.path / "tls").string()}});
  auto diff = ca.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 2);  // the drop-in and the CA
  REQUIRE(ca.apply(h.ctx, *diff).ok());
  auto dropin = read_text(h.at(seed.dropin));
  CHECK_THAT(dropin, !Catch::Contains("10.77.0.11:5000"));
  CHECK_THAT(dropin, Catch::Contains("--insecure-registry 10.77.0.12:5000"));
  CHECK(h.systemd.reloads == reloads + 1);
  CHECK(h.systemd.jobs == jobs);  // no restart, no start
  auto again = ca.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());
  // The insecure task for the other registry finds nothing left to do either.
  DockerRegistryConfig rest = seed;
  rest.registries = {"10.77.0.12:5000"};
  auto other = DockerInsecureRegistryAction(rest).check(h.ctx);
  REQUIRE(other.ok());
  CHECK(other->empty());
}
