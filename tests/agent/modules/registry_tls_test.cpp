#include "agent/modules/registry_tls.hpp"

#include "fakes.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <thread>

using namespace rs::agent;
using namespace rs::agent::test;

namespace {

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("tls: the authority is made once, its key 0600, and read back the same") {
  TempDir dir;
  const auto ca_dir = (dir.path / "state/tls").string();
  auto made = ensure_certificate_authority(ca_dir);
  REQUIRE(made.ok());
  CHECK_THAT(made->certificate_pem, Catch::StartsWith("-----BEGIN CERTIFICATE-----"));
  CHECK(mode_of(ca_dir + "/ca.key") == 0600);
  CHECK(mode_of(ca_dir) == 0700);
  auto again = ensure_certificate_authority(ca_dir);
  REQUIRE(again.ok());
  CHECK(again->certificate_pem == made->certificate_pem);
  CHECK(again->key_pem == made->key_pem);
  auto s = summarize_certificate(made->certificate_pem);
  REQUIRE(s.ok());
  CHECK(days_until(s->not_after) > kCaDays - 2);
}

TEST_CASE("tls: several hosts asking at once get one authority") {
  TempDir dir;
  const auto ca_dir = (dir.path / "tls").string();
  std::vector<std::string> seen(4);
  std::vector<std::thread> threads;
  for (auto& s : seen)
    threads.emplace_back([&s, &ca_dir] {
      auto ca = ensure_certificate_authority(ca_dir);
      s = ca ? ca->certificate_pem : "error: " + ca.error().message;
    });
  for (auto& t : threads) t.join();
  for (const auto& s : seen) CHECK(s == seen.front());
  CHECK_THAT(seen.front(), Catch::StartsWith("-----BEGIN CERTIFICATE-----"));
}

TEST_CASE("tls: a certificate without its key beside it is never replaced") {
  TempDir dir;
  const auto ca_dir = (dir.path / "tls").string();
  REQUIRE(ensure_certificate_authority(ca_dir).ok());
  std::filesystem::remove(ca_dir + "/ca.key");
  auto r = ensure_certificate_authority(ca_dir);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("ca.key' is missing"));
  write_text(ca_dir + "/ca.key", "not a key");
  auto bad = ensure_certificate_authority(ca_dir);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("no unencrypted PEM key"));
}

TEST_CASE("tls: a server certificate is judged by names, authority, key and time left") {
  TempDir dir;
  auto ca = ensure_certificate_authority((dir.path / "a").string());
  auto other = ensure_certificate_authority((dir.path / "b").string());
  REQUIRE(ca.ok());
  REQUIRE(other.ok());
  auto cert = issue_server_certificate(*ca, {"10.77.0.11", "registry.lab"});
  REQUIRE(cert.ok());
  CHECK(judge_server_certificate(*cert, ca->certificate_pem, {"10.77.0.11", "registry.lab"}).empty());
  CHECK(judge_server_certificate(*cert, ca->certificate_pem, {"10.77.0.12"}) == "not valid for '10.77.0.12'");
  CHECK(judge_server_certificate(*cert, ca->certificate_pem, {"other.lab"}) == "not valid for 'other.lab'");
  CHECK_THAT(judge_server_certificate(*cert, other->certificate_pem, {"10.77.0.11"}),
             Catch::StartsWith("not from this authority"));
  auto second = issue_server_certificate(*ca, {"10.77.0.11"});
  REQUIRE(second.ok());
  CHECK(judge_server_certificate(KeyPair{cert->certificate_pem, second->key_pem}, ca->certificate_pem, {"10.77.0.11"}) ==
        "the key is not the certificate's");
  auto short_lived = issue_server_certificate(*ca, {"10.77.0.11"}, 10);
  REQUIRE(short_lived.ok());
  CHECK(judge_server_certificate(*short_lived, ca->certificate_pem, {"10.77.0.11"}, 30) == "expires within 30 days");
  CHECK(judge_server_certificate(*short_lived, ca->certificate_pem, {"10.77.0.11"}, 5).empty());
  CHECK(judge_server_certificate(KeyPair{"garbage", "garbage"}, ca->certificate_pem, {"x"}) == "no PEM certificate");

  auto s = summarize_certificate(cert->certificate_pem);
  REQUIRE(s.ok());
  CHECK(s->names == std::vector<std::string>{"10.77.0.11", "registry.lab"});
  CHECK_THAT(s->text, Catch::StartsWith("for 10.77.0.11 registry.lab, until 20"));
  CHECK_FALSE(issue_server_certificate(*ca, {}).ok());
  CHECK_FALSE(issue_server_certificate(*ca, {"bad,name"}).ok());
}
