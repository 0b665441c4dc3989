#include "registry/router.hpp"

#include <catch2/catch.hpp>

using namespace rs::registry;

TEST_CASE("base and catalog") {
  CHECK(match_route("/v2/").kind == RouteKind::base);
  CHECK(match_route("/v2").kind == RouteKind::base);
  CHECK(match_route("/v2/_catalog?n=10").kind == RouteKind::catalog);
  CHECK(match_route("/v2/_catalog?n=10").query_value("n") == "10");
  CHECK(match_route("/v1/").kind == RouteKind::not_found);
  CHECK(match_route("http://example/v2/").kind == RouteKind::not_found);
}

TEST_CASE("endpoints are recognised from the end of nested names") {
  auto m = match_route("/v2/library/busybox/manifests/latest");
  CHECK(m.kind == RouteKind::manifest);
  CHECK(m.name == "library/busybox");
  CHECK(m.reference == "latest");

  // "blobs" and "manifests" are valid name components too.
  auto nested = match_route("/v2/a/blobs/b/manifests/v1");
  CHECK(nested.kind == RouteKind::manifest);
  CHECK(nested.name == "a/blobs/b");

  auto blob = match_route("/v2/x/blobs/sha256:abc");
  CHECK(blob.kind == RouteKind::blob);
  CHECK(blob.reference == "sha256:abc");

  auto tags = match_route("/v2/a/b/c/tags/list?n=2&last=v1");
  CHECK(tags.kind == RouteKind::tags_list);
  CHECK(tags.name == "a/b/c");
  CHECK(tags.query_value("last") == "v1");

  auto referrers = match_route("/v2/x/referrers/sha256:abc?artifactType=application%2Fvnd.example");
  CHECK(referrers.kind == RouteKind::referrers);
  CHECK(referrers.query_value("artifactType") == "application/vnd.example");
}

TEST_CASE("uploads with and without the trailing slash") {
  auto start = match_route("/v2/x/y/blobs/uploads/?mount=sha256%3Aab&from=z");
  CHECK(start.kind == RouteKind::upload_start);
  CHECK(start.name == "x/y");
  CHECK(start.query_value("mount") == "sha256:ab");
  CHECK(match_route("/v2/x/blobs/uploads").kind == RouteKind::upload_start);
  auto session = match_route("/v2/x/blobs/uploads/0123abcd-0123-4567-89ab-0123456789ab?digest=sha256:00");
  CHECK(session.kind == RouteKind::upload);
  CHECK(session.reference == "0123abcd-0123-4567-89ab-0123456789ab");
  CHECK(session.query_value("digest") == "sha256:00");
}

TEST_CASE("hostile names never match a route") {
  for (const char* target : {"/v2/../etc/manifests/x", "/v2/%2e%2e/manifests/x", "/v2/A/manifests/x",
                             "/v2/a//b/blobs/sha256:00", "/v2/a/./b/tags/list", "/v2//manifests/x",
                             "/v2/a%2fb/manifests/x"}) {
    INFO(target);
    CHECK(match_route(target).kind == RouteKind::invalid_name);
  }
  CHECK(match_route("/v2/nothing-here").kind == RouteKind::not_found);
}

TEST_CASE("percent decoding") {
  std::string out;
  CHECK(percent_decode("a%3Ab+c", out));
  CHECK(out == "a:b c");
  CHECK_FALSE(percent_decode("%4", out));
  CHECK_FALSE(percent_decode("%zz", out));
}
