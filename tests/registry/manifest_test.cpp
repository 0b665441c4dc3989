#include "registry/manifest.hpp"

#include <catch2/catch.hpp>

using namespace rs::registry;

namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');

std::string oci_manifest(const std::string& extra = "") {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + kA + R"(","size":2},)"
         R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + kB + R"(","size":3}])" +
         extra + "}";
}

}  // namespace

TEST_CASE("an OCI manifest lists its config and layers") {
  auto m = parse_manifest(oci_manifest(), media::kOciManifest);
  REQUIRE(m.ok());
  CHECK(m->media_type == media::kOciManifest);
  CHECK_FALSE(m->is_index);
  REQUIRE(m->blobs.size() == 2);
  CHECK(m->blobs[0].digest.str() == kA);
  CHECK(m->blobs[1].size == 3);
  CHECK(m->artifact_type == "application/vnd.oci.image.config.v1+json");
  CHECK_FALSE(m->subject);
}

TEST_CASE("subject, artifactType and annotations are read") {
  auto m = parse_manifest(oci_manifest(R"(,"artifactType":"application/vnd.example.sbom",)"
                                       R"("subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                                       kA + R"(","size":7},"annotations":{"k":"v"})"),
                          media::kOciManifest);
  REQUIRE(m.ok());
  REQUIRE(m->subject);
  CHECK(m->subject->digest.str() == kA);
  CHECK(m->artifact_type == "application/vnd.example.sbom");
  CHECK(m->annotations_json == R"({"k":"v"})");
}

TEST_CASE("an index lists its children") {
  std::string idx = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                    R"("digest":")" + kA + R"(","size":10,"platform":{"os":"linux","architecture":"amd64"}}]})";
  auto m = parse_manifest(idx, "application/vnd.oci.image.index.v1+json; charset=utf-8");
  REQUIRE(m.ok());
  CHECK(m->is_index);
  REQUIRE(m->manifests.size() == 1);
  CHECK(stored_media_type(idx) == media::kOciIndex);
}

TEST_CASE("invalid manifests are rejected with a reason") {
  auto check_invalid = [](const std::string& body, std::string_view type, const std::string& reason) {
    auto m = parse_manifest(body, type);
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == rs::Errc::invalid_argument);
    CHECK_THAT(m.error().message, Catch::Contains(reason));
  };
  check_invalid("{not json", media::kOciManifest, "not valid JSON");
  check_invalid("[]", media::kOciManifest, "not a JSON object");
  check_invalid(R"({"schemaVersion":1})", media::kOciManifest, "schemaVersion");
  check_invalid(oci_manifest(), media::kDockerManifest, "does not match Content-Type");
  check_invalid(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})", "", "config");
  std::string bad_digest = oci_manifest();
  bad_digest.replace(bad_digest.find(kB), kB.size(), "sha256:xyz");
  check_invalid(bad_digest, media::kOciManifest, "layers[0].digest");
  std::string negative = oci_manifest();
  negative.replace(negative.find("\"size\":3"), 8, "\"size\":-3");
  check_invalid(negative, media::kOciManifest, "size");
  check_invalid(R"({"schemaVersion":2,"mediaType":"text/plain"})", "", "unsupported manifest media type");
}

TEST_CASE("stored media type: the body's, else inferred as registry:2 does") {
  CHECK(stored_media_type(R"({"mediaType":"application/vnd.docker.distribution.manifest.v2+json"})") ==
        media::kDockerManifest);
  CHECK(stored_media_type(R"({"schemaVersion":2,"config":{}})") == media::kOciManifest);
}

TEST_CASE("referrers index") {
  Referrer r{std::string(media::kOciManifest), *rs::Digest::parse(kA), 42, "application/vnd.example", R"({"a":"b"})"};
  auto doc = referrers_index({r});
  CHECK_THAT(doc, Catch::Contains(R"("artifactType":"application/vnd.example")"));
  CHECK_THAT(doc, Catch::Contains(R"("mediaType":"application/vnd.oci.image.index.v1+json")"));
  CHECK_THAT(doc, Catch::Contains(R"("annotations":{"a":"b"})"));
  CHECK(referrers_index({}) == R"({"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2})");
}

TEST_CASE("json escaping") {
  CHECK(json_escape("a\"b\\c\n\x01") == "a\\\"b\\\\c\\n\\u0001");
}

TEST_CASE("a manifest nesting deeper than the limit is refused before it is parsed") {
  // 65k nested arrays in the annotations crashed the server when they were serialized again.
  std::string deep = std::string(65'000, '[') + std::string(65'000, ']');
  auto m = parse_manifest(oci_manifest(R"(,"annotations":{"k":)" + deep + "}"), media::kOciManifest);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == rs::Errc::invalid_argument);
  CHECK_THAT(m.error().message, Catch::Contains("deeper than 64"));
  // Brackets inside strings are text, not nesting.
  auto text = parse_manifest(oci_manifest(R"(,"annotations":{"k":")" + std::string(1000, '[') + R"("})"),
                             media::kOciManifest);
  CHECK(text.ok());
  // Right at the limit is fine.
  std::string at_limit = std::string(kMaxManifestDepth - 2, '[') + std::string(kMaxManifestDepth - 2, ']');
  CHECK(parse_manifest(oci_manifest(R"(,"annotations":{"k":)" + at_limit + "}"), media::kOciManifest).ok());
  CHECK(stored_media_type(deep) == media::kOciManifest);
}

TEST_CASE("schemaVersion is compared as the number it is") {
  auto body = oci_manifest();
  body.replace(body.find("\"schemaVersion\":2"), 17, "\"schemaVersion\":4294967298");
  auto m = parse_manifest(body, media::kOciManifest);
  REQUIRE_FALSE(m.ok());
  CHECK_THAT(m.error().message, Catch::Contains("schemaVersion must be 2"));
}

TEST_CASE("a Docker manifest must name its media type in the body, an OCI one need not") {
  auto body = oci_manifest();
  const std::string field = R"("mediaType":"application/vnd.oci.image.manifest.v1+json",)";
  body.erase(body.find(field), field.size());
  REQUIRE(body.find("image.manifest") == std::string::npos);
  auto docker = parse_manifest(body, media::kDockerManifest);
  REQUIRE_FALSE(docker.ok());
  CHECK_THAT(docker.error().message, Catch::Contains("mediaType is missing"));
  auto oci = parse_manifest(body, media::kOciManifest);
  REQUIRE(oci.ok());
  CHECK(oci->media_type == media::kOciManifest);
}
