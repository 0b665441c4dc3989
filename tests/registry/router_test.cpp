#include "registry/router.hpp"

#include <catch2/catch.hpp>

using namespace rs::registry;

namespace {

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;
const std::string kUuid = "0123abcd-0123-4567-89ab-0123456789ab";

// The error code of a refused match, or "" when it reached an endpoint.
std::string refused(std::string_view method, std::string_view target) {
  auto m = match_route(method, target);
  return m.error ? m.error->code : "";
}

int status(std::string_view method, std::string_view target) {
  auto m = match_route(method, target);
  return m.error ? m.error->status : 0;
}

}  // namespace

TEST_CASE("base and catalog") {
  CHECK(match_route("GET", "/v2/").endpoint == Endpoint::base);
  CHECK(match_route("HEAD", "/v2").endpoint == Endpoint::base);
  CHECK(match_route("GET", "/v2/_catalog?n=10").endpoint == Endpoint::catalog);
  CHECK(match_route("GET", "/v2/_catalog?n=10").query_value("n") == "10");
  CHECK(refused("GET", "/v1/") == "NOT_FOUND");
  CHECK(refused("GET", "http://example/v2/") == "NOT_FOUND");
  CHECK(status("POST", "/v2/") == 405);
}

TEST_CASE("endpoints are recognised from the end of nested names, with typed values") {
  auto m = match_route("GET", "/v2/library/busybox/manifests/latest");
  REQUIRE_FALSE(m.error);
  CHECK(m.endpoint == Endpoint::get_manifest);
  CHECK(m.name == "library/busybox");
  CHECK(m.reference.tag == "latest");
  CHECK_FALSE(m.reference.digest);

  // "blobs" and "manifests" are valid name components too.
  auto nested = match_route("PUT", "/v2/a/blobs/b/manifests/v1");
  CHECK(nested.endpoint == Endpoint::put_manifest);
  CHECK(nested.name == "a/blobs/b");

  auto by_digest = match_route("DELETE", "/v2/x/manifests/" + kDigest);
  CHECK(by_digest.endpoint == Endpoint::delete_manifest);
  REQUIRE(by_digest.reference.digest);
  CHECK(by_digest.reference.digest->hex == kHex);
  CHECK(by_digest.reference.str() == kDigest);

  auto blob = match_route("HEAD", "/v2/x/blobs/" + kDigest);
  CHECK(blob.endpoint == Endpoint::get_blob);
  CHECK(blob.digest.str() == kDigest);

  auto tags = match_route("GET", "/v2/a/b/c/tags/list?n=2&last=v1");
  CHECK(tags.endpoint == Endpoint::list_tags);
  CHECK(tags.name == "a/b/c");
  CHECK(tags.query_value("last") == "v1");

  auto referrers = match_route("GET", "/v2/x/referrers/" + kDigest + "?artifactType=application%2Fvnd.example");
  CHECK(referrers.endpoint == Endpoint::list_referrers);
  CHECK(referrers.digest.str() == kDigest);
  CHECK(referrers.query_value("artifactType") == "application/vnd.example");
}

TEST_CASE("each upload endpoint by its method, with and without the trailing slash") {
  auto start = match_route("POST", "/v2/x/y/blobs/uploads/?mount=sha256%3A" + kHex + "&from=z");
  CHECK(start.endpoint == Endpoint::start_upload);
  CHECK(start.name == "x/y");
  REQUIRE(start.mount);
  CHECK(start.mount->str() == kDigest);
  CHECK(start.mount_from == "z");
  CHECK_FALSE(start.monolithic);
  CHECK(match_route("POST", "/v2/x/blobs/uploads").endpoint == Endpoint::start_upload);
  auto monolithic = match_route("POST", "/v2/x/blobs/uploads/?digest=" + kDigest);
  REQUIRE(monolithic.monolithic);
  CHECK(monolithic.monolithic->str() == kDigest);

  const std::string session = "/v2/x/blobs/uploads/" + kUuid;
  CHECK(match_route("GET", session).endpoint == Endpoint::upload_status);
  CHECK(match_route("PATCH", session).endpoint == Endpoint::patch_upload);
  CHECK(match_route("DELETE", session).endpoint == Endpoint::cancel_upload);
  auto commit = match_route("PUT", session + "?digest=" + kDigest);
  CHECK(commit.endpoint == Endpoint::commit_upload);
  CHECK(commit.upload_id == kUuid);
  CHECK(commit.digest.str() == kDigest);
  CHECK(match_route("PATCH", session).upload_id == kUuid);
}

TEST_CASE("bad values: the same answers as each endpoint gave before the table") {
  // A bad name comes first, whatever the method.
  CHECK(refused("POST", "/v2/UP/manifests/x") == "NAME_INVALID");
  // A blob's digest and an upload id are checked before the method...
  CHECK(refused("POST", "/v2/x/blobs/sha256:zz") == "DIGEST_INVALID");
  CHECK(status("POST", "/v2/x/blobs/" + kDigest) == 405);
  CHECK(refused("POST", "/v2/x/blobs/uploads/not-a-uuid") == "BLOB_UPLOAD_UNKNOWN");
  CHECK(status("POST", "/v2/x/blobs/uploads/" + kUuid) == 405);
  CHECK(status("HEAD", "/v2/x/blobs/uploads/" + kUuid) == 405);
  // ...a manifest reference and a referrers subject after it.
  CHECK(status("POST", "/v2/x/manifests/bad..tag") == 405);
  CHECK(status("POST", "/v2/x/referrers/sha256:zz") == 405);
  CHECK(refused("GET", "/v2/x/referrers/sha256:zz") == "DIGEST_INVALID");
  CHECK(status("GET", "/v2/x/blobs/uploads/") == 405);
  // A bad tag is unknown to a read and refused for a write; a bad digest is refused for both.
  CHECK(status("GET", "/v2/x/manifests/.bad") == 404);
  CHECK(refused("DELETE", "/v2/x/manifests/.bad") == "MANIFEST_UNKNOWN");
  auto put = match_route("PUT", "/v2/x/manifests/.bad");
  CHECK(put.endpoint == Endpoint::put_manifest);  // (the API answers after the body)
  REQUIRE(put.error);
  CHECK(put.error->code == "TAG_INVALID");
  CHECK(refused("GET", "/v2/x/manifests/sha256:abc") == "DIGEST_INVALID");
  // Query values of the upload endpoints.
  CHECK(refused("POST", "/v2/x/blobs/uploads/?mount=sha256:zz&from=y") == "DIGEST_INVALID");
  // A ?from= that names no repository mounts nothing (the upload starts as a session);
  // without ?from= the registry looks for the blob itself.
  for (const std::string from : {"&from=UP", "&from=", "&from=..%2F..%2Fescape"}) {
    auto bad_from = match_route("POST", "/v2/x/blobs/uploads/?mount=" + kDigest + from);
    CHECK(bad_from.endpoint == Endpoint::start_upload);
    CHECK_FALSE(bad_from.error);
    CHECK_FALSE(bad_from.mount);
  }
  auto anywhere = match_route("POST", "/v2/x/blobs/uploads/?mount=" + kDigest);
  REQUIRE(anywhere.mount);
  CHECK(anywhere.mount_from.empty());
  CHECK(refused("POST", "/v2/x/blobs/uploads/?from=UP") == "");  // (no mount: from is not used)
  CHECK(refused("POST", "/v2/x/blobs/uploads/?digest=md5:00") == "DIGEST_INVALID");
  auto commit = match_route("PUT", "/v2/x/blobs/uploads/" + kUuid);
  REQUIRE(commit.error);
  CHECK(commit.error->code == "DIGEST_INVALID");
  CHECK_THAT(commit.error->message, Catch::Contains("query parameter 'digest'"));
}

TEST_CASE("hostile names never match a route") {
  for (const char* target : {"/v2/../etc/manifests/x", "/v2/%2e%2e/manifests/x", "/v2/A/manifests/x",
                             "/v2/a//b/blobs/sha256:00", "/v2/a/./b/tags/list", "/v2//manifests/x",
                             "/v2/a%2fb/manifests/x", "/v2/_catalog/", "/v2/blobs/uploads/"}) {
    INFO(target);
    CHECK(refused("GET", target) == "NAME_INVALID");
    CHECK(match_route("GET", target).endpoint == Endpoint::none);
  }
  CHECK(refused("GET", "/v2/nothing-here") == "NOT_FOUND");
  CHECK(refused("GET", "/v2/manifests/x") == "NOT_FOUND");
}

TEST_CASE("percent decoding") {
  std::string out;
  CHECK(percent_decode("a%3Ab+c", out));
  CHECK(out == "a:b c");
  CHECK_FALSE(percent_decode("%4", out));
  CHECK_FALSE(percent_decode("%zz", out));
}
