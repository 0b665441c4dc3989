#include "agent/modules/runtime_registries_module.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

using namespace rs::agent;
using namespace rs::agent::test;

namespace {

// Debian 12's /etc/containerd/config.toml as the containerd package ships it.
constexpr const char* kDebianConfig = R"(version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
)";

void install_containerd(FakeHost& h) {
  h.systemd.units["containerd.service"] = UnitState{"loaded", "active", "running", "enabled", "success", false, 0};
  write_text(h.at("/etc/containerd/config.toml"), kDebianConfig);
}

}  // namespace

TEST_CASE("containerd config: config_path appended to Debian's file, kept when set, refused where unsafe") {
  auto plan = plan_containerd_config(std::string(kDebianConfig));
  REQUIRE(plan.ok());
  CHECK(plan->hosts_dir == "/etc/containerd/certs.d");
  REQUIRE(plan->rewritten);
  CHECK(plan->rewritten->starts_with(kDebianConfig));  // every line of the host's file stays
  CHECK_THAT(*plan->rewritten, Catch::EndsWith("[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
                                               "  config_path = \"/etc/containerd/certs.d\"\n"));
  auto again = plan_containerd_config(*plan->rewritten);
  REQUIRE(again.ok());
  CHECK_FALSE(again->rewritten);

  // No file, or an empty one: a version 2 file with just that.
  auto none = plan_containerd_config(std::nullopt);
  REQUIRE(none.ok());
  CHECK_THAT(*none->rewritten, Catch::StartsWith("version = 2\n"));
  CHECK_FALSE(plan_containerd_config(*none->rewritten)->rewritten);

  // The table exists without the key: inserted under its header, indented as it is.
  auto table = plan_containerd_config(std::string(
      "version = 2\n  [plugins.'io.containerd.grpc.v1.cri'.registry]\n    [plugins.\"io.containerd.grpc.v1.cri\".registry.configs]\n"));
  REQUIRE(table.ok());
  CHECK(*table->rewritten ==
        "version = 2\n  [plugins.'io.containerd.grpc.v1.cri'.registry]\n    config_path = \"/etc/containerd/certs.d\"\n"
        "    [plugins.\"io.containerd.grpc.v1.cri\".registry.configs]\n");

  // The host's own config_path is used (its first directory) and the file left alone.
  auto own = plan_containerd_config(
      std::string("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = '/srv/hosts:/etc/docker/certs.d'\n"));
  REQUIRE(own.ok());
  CHECK(own->hosts_dir == "/srv/hosts");
  CHECK_FALSE(own->rewritten);

  // Version 1 (no version line) names the plugin `cri`.
  auto v1 = plan_containerd_config(std::string("[plugins.cri]\n  sandbox_image = \"pause\"\n"));
  REQUIRE(v1.ok());
  CHECK_THAT(*v1->rewritten, Catch::Contains("[plugins.cri.registry]\n  config_path"));

  // mirrors and config_path together stop containerd; a dotted key we cannot place.
  auto mirrors = plan_containerd_config(std::string("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n"
                                                    "  endpoint = [\"http://10.0.0.1:5000\"]\n"));
  REQUIRE_FALSE(mirrors.ok());
  CHECK(mirrors.error().code == rs::Errc::conflict);
  CHECK_THAT(mirrors.error().message, Catch::Contains("mirrors"));
  auto dotted = plan_containerd_config(std::string("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nregistry.config_path = \"/x\"\n"));
  REQUIRE_FALSE(dotted.ok());
  CHECK_THAT(dotted.error().message, Catch::Contains("line 3"));

  // A file that ends inside a multi-line string is refused: what is appended would be text.
  // (Found by fuzz: containerd_config.)
  auto open_string = plan_containerd_config(std::string("version = 2\nroot = \"\"\"\n[plugins.\"io.co"));
  REQUIRE_FALSE(open_string.ok());
  CHECK_THAT(open_string.error().message, Catch::Contains("multi-line string"));

  // A header inside a multi-line string is text.
  auto text = plan_containerd_config(std::string("version = 2\nx = \"\"\"\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n\"\"\"\n"));
  REQUIRE(text.ok());
  CHECK_THAT(*text->rewritten, Catch::EndsWith("\"\"\"\n\n# registry-setup: containerd's CRI reads registries from hosts.toml files there.\n"
                                               "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
                                               "  config_path = \"/etc/containerd/certs.d\"\n"));
}

TEST_CASE("containerd: hosts.toml per registry, config_path added, containerd restarted once") {
  FakeHost h;
  install_containerd(h);
  write_text(h.root.path / "ca.pem", "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
  ContainerdRegistryAction action({{"192.168.1.11:5000"}, {{"10.0.0.2:5443", (h.root.path / "ca.pem").string(), ""}}});
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 4);
  CHECK(diff->files.back().path == "/etc/containerd/config.toml");
  REQUIRE(diff->has(ChangeKind::restart));
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.jobs == std::vector<std::string>{"restart containerd.service"});
  CHECK(read_text(h.at("/etc/containerd/certs.d/192.168.1.11:5000/hosts.toml")) == render_hosts_toml("192.168.1.11:5000"));
  CHECK_THAT(read_text(h.at("/etc/containerd/certs.d/192.168.1.11:5000/hosts.toml")),
             Catch::Contains("server = \"http://192.168.1.11:5000\""));
  CHECK_THAT(read_text(h.at("/etc/containerd/certs.d/10.0.0.2:5443/hosts.toml")),
             Catch::Contains("server = \"https://10.0.0.2:5443\"") &&
                 Catch::Contains("ca = \"/etc/containerd/certs.d/10.0.0.2:5443/ca.crt\""));
  CHECK_THAT(read_text(h.at("/etc/containerd/certs.d/10.0.0.2:5443/ca.crt")), Catch::Contains("CA"));

  auto again = action.check(h.ctx);
  REQUIRE(again.ok());
  CHECK(again->empty());

  // A hosts.toml edited by hand is put back, with no restart (containerd reads it per pull).
  write_text(h.at("/etc/containerd/certs.d/192.168.1.11:5000/hosts.toml"), "server = \"https://192.168.1.11:5000\"\n");
  auto repair = action.check(h.ctx);
  REQUIRE(repair.ok());
  CHECK(repair->files.size() == 1);
  CHECK_FALSE(repair->has(ChangeKind::restart));
}

TEST_CASE("containerd: nothing on a host without it; a stopped containerd is not started") {
  FakeHost h;
  ContainerdRegistryAction action({{"192.168.1.11:5000"}, {}});
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  CHECK(diff->empty());

  install_containerd(h);
  h.systemd.units["containerd.service"].active_state = "inactive";
  auto stopped = action.check(h.ctx);
  REQUIRE(stopped.ok());
  CHECK(stopped->files.size() == 2);
  CHECK_FALSE(stopped->has(ChangeKind::restart));
}

TEST_CASE("containers: registries.conf.d drop-in and certs.d, only where containers-image is") {
  FakeHost h;
  ContainersRegistriesAction action({{"192.168.1.11:5000", "10.0.0.1:5000"}, {}});
  auto none = action.check(h.ctx);
  REQUIRE(none.ok());
  CHECK(none->empty());  // no podman, skopeo, buildah or CRI-O

  write_text(h.at("/etc/containers/registries.conf"), "unqualified-search-registries = []\n");
  auto diff = action.check(h.ctx);
  REQUIRE(diff.ok());
  REQUIRE(diff->files.size() == 1);
  CHECK(diff->files[0].path == ContainersRegistriesAction::kDropin);
  REQUIRE(action.apply(h.ctx, *diff).ok());
  CHECK(h.systemd.jobs.empty());
  const auto conf = read_text(h.at(ContainersRegistriesAction::kDropin));
  CHECK_THAT(conf, Catch::Contains("[[registry]]\nlocation = \"192.168.1.11:5000\"\ninsecure = true\n") &&
                       Catch::Contains("location = \"10.0.0.1:5000\""));
  CHECK(action.check(h.ctx)->empty());

  // The registry now serves TLS: it leaves the drop-in, its CA goes to certs.d.
  write_text(h.root.path / "ca.pem", "PEM\n");
  ContainersRegistriesAction tls({{"10.0.0.1:5000"}, {{"192.168.1.11:5000", (h.root.path / "ca.pem").string(), ""}}});
  auto moved = tls.check(h.ctx);
  REQUIRE(moved.ok());
  REQUIRE(moved->files.size() == 2);
  REQUIRE(tls.apply(h.ctx, *moved).ok());
  CHECK_THAT(read_text(h.at(ContainersRegistriesAction::kDropin)), !Catch::Contains("192.168.1.11"));
  CHECK(read_text(h.at("/etc/containers/certs.d/192.168.1.11:5000/ca.crt")) == "PEM\n");
}
