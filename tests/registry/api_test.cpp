#include "registry/api.hpp"

#include "registry/filesystem_driver.hpp"
#include "registry/manifest.hpp"
#include "registry/paths.hpp"
#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <sys/resource.h>
#include <unistd.h>

using namespace rs::registry;
namespace fs = std::filesystem;

namespace {

// The registry on a temporary directory, driven request by request as the server does.
struct Harness {
  rs::testing::TempDir dir;
  FilesystemDriver driver{dir.str()};
  Store store;
  ApiOptions options;
  Api api{store, options};

  explicit Harness(ApiOptions o = {}, StoreOptions s = {}) : store(driver, s), options(o), api(store, options) {}

  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                std::vector<Header> headers = {}) {
    Request req{method, target, std::move(headers), {}};
    Dispatch d = api.handle(req);
    if (!d.sink) return std::move(d.response);
    // Feed the body in small pieces, as the network would.
    for (std::size_t i = 0; i < body.size(); i += 7)
      if (auto early = d.sink->write(body.data() + i, std::min<std::size_t>(7, body.size() - i)))
        return std::move(*early);
    return d.sink->finish();
  }

  std::string push_blob(const std::string& repo, const std::string& content) {
    auto digest = rs::digest_of(content).str();
    auto r = call("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest, content);
    REQUIRE(r.status == 201);
    return digest;
  }

  std::string read_file(const Response& r) {
    REQUIRE(r.file);
    std::string out(r.file_length, '\0');
    REQUIRE(::pread(r.file->native_handle(), out.data(), out.size(), static_cast<off_t>(r.file_offset)) ==
            static_cast<ssize_t>(out.size()));
    return out;
  }

  std::size_t files_under(const std::string& sub) {
    std::size_t n = 0;
    fs::path p = dir.path / "docker/registry/v2" / sub;
    if (!fs::exists(p)) return 0;
    for (auto& e : fs::recursive_directory_iterator(p))
      if (e.is_regular_file()) ++n;
    return n;
  }
};

std::string error_code(const Response& r) {
  auto pos = r.body.find("\"code\":\"");
  if (pos == std::string::npos) return "";
  pos += 8;
  return r.body.substr(pos, r.body.find('"', pos) - pos);
}

std::string manifest_for(const std::string& config, const std::string& layer, std::size_t config_size,
                         std::size_t layer_size, const std::string& extra = "") {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         config + R"(","size":)" + std::to_string(config_size) +
         R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + layer +
         R"(","size":)" + std::to_string(layer_size) + "}]" + extra + "}";
}

const std::vector<Header> kOciType{{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}};

// An image with a subject and an artifactType: a referrer of `subject`. `salt` makes it
// another manifest (an annotation).
std::string referrer_for(const std::string& config, const std::string& layer, const std::string& subject,
                         std::size_t subject_size, const std::string& artifact_type, const std::string& salt) {
  return manifest_for(config, layer, 2, 1,
                      R"(,"artifactType":")" + artifact_type +
                          R"(","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                          subject + R"(","size":)" + std::to_string(subject_size) +
                          R"(},"annotations":{"org.example.salt":")" + salt + R"("})");
}

// The digests a referrers index lists, in its order.
std::vector<std::string> listed(const Response& r) {
  std::vector<std::string> out;
  const std::string key = "\"digest\":\"";
  for (auto pos = r.body.find(key); pos != std::string::npos; pos = r.body.find(key, pos)) {
    pos += key.size();
    out.push_back(r.body.substr(pos, r.body.find('"', pos) - pos));
  }
  return out;
}

// The target a Link header points at ("" without one).
std::string link_target(const Response& r) {
  std::string link(r.header("Link"));
  if (link.empty()) return "";
  REQUIRE(link.front() == '<');
  REQUIRE(link.find(">; rel=\"next\"") != std::string::npos);
  return link.substr(1, link.find('>') - 1);
}

// A repository with one image (the subject) and its config and layer.
struct ReferrersFixture {
  Harness& h;
  std::string config = h.push_blob("app", "{}");
  std::string layer = h.push_blob("app", "L");
  std::string image = manifest_for(config, layer, 2, 1);
  std::string subject = rs::digest_of(image).str();

  explicit ReferrersFixture(Harness& harness) : h(harness) {
    REQUIRE(h.call("PUT", "/v2/app/manifests/v1", image, kOciType).status == 201);
  }
  std::string body(const std::string& artifact_type, const std::string& salt) const {
    return referrer_for(config, layer, subject, image.size(), artifact_type, salt);
  }
  // Pushed as a client would; its digest.
  std::string push(const std::string& artifact_type, const std::string& salt) {
    auto b = body(artifact_type, salt);
    auto d = rs::digest_of(b).str();
    REQUIRE(h.call("PUT", "/v2/app/manifests/" + d, b, kOciType).status == 201);
    return d;
  }
  // Written as registry:2 writes a manifest (data and revision link), which knows no index.
  std::string write_as_registry2(const std::string& artifact_type, const std::string& salt) {
    auto b = body(artifact_type, salt);
    auto d = rs::digest_of(b);
    REQUIRE(h.driver.put_content(paths::blob_data(d), b).ok());
    REQUIRE(h.driver.put_content(paths::revision_link("app", d), d.str()).ok());
    return d.str();
  }
  fs::path descriptor(const std::string& referrer) const {
    auto s = *rs::Digest::parse(subject);
    auto r = *rs::Digest::parse(referrer);
    return h.dir.path / "docker/registry/v2/repositories/app/_referrers/sha256" / s.hex / "sha256" / r.hex / "descriptor";
  }
  fs::path complete() const { return h.dir.path / "docker/registry/v2/repositories/app/_referrers/complete"; }
  Response list(const std::string& query = "") { return h.call("GET", "/v2/app/referrers/" + subject + query); }
};

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("chunked upload: session, status, chunks, commit, download") {
  Harness h;
  auto start = h.call("POST", "/v2/app/blobs/uploads/");
  REQUIRE(start.status == 202);
  std::string location(start.header("Location"));
  CHECK(start.header("Range") == "0-0");
  REQUIRE(location.rfind("/v2/app/blobs/uploads/", 0) == 0);

  auto p1 = h.call("PATCH", location, "hello ", {{"Content-Range", "0-5"}});
  CHECK(p1.status == 202);
  CHECK(p1.header("Range") == "0-5");
  // A chunk that does not continue at the current offset is refused and changes nothing.
  auto gap = h.call("PATCH", location, "xx", {{"Content-Range", "10-11"}});
  CHECK(gap.status == 416);
  CHECK(gap.header("Range") == "0-5");
  auto p2 = h.call("PATCH", location, "world");  // streamed, no Content-Range
  CHECK(p2.status == 202);
  auto status = h.call("GET", location);
  CHECK(status.status == 204);
  CHECK(status.header("Range") == "0-10");

  auto digest = rs::digest_of("hello world!").str();
  auto put = h.call("PUT", location + "?digest=" + digest, "!");
  REQUIRE(put.status == 201);
  CHECK(put.header("Docker-Content-Digest") == digest);
  CHECK(h.files_under("repositories/app/_uploads") == 0);

  auto get = h.call("GET", "/v2/app/blobs/" + digest);
  REQUIRE(get.status == 200);
  CHECK(h.read_file(get) == "hello world!");
  auto ranged = h.call("GET", "/v2/app/blobs/" + digest, "", {{"Range", "bytes=6-10"}});
  CHECK(ranged.status == 206);
  CHECK(h.read_file(ranged) == "world");
  CHECK(ranged.header("Content-Range") == "bytes 6-10/12");
  auto past = h.call("GET", "/v2/app/blobs/" + digest, "", {{"Range", "bytes=12-"}});
  CHECK(past.status == 416);
  auto head = h.call("HEAD", "/v2/app/blobs/" + digest);
  CHECK(head.status == 200);
  CHECK(head.content_length() == 12);
  CHECK_FALSE(head.file);
}

TEST_CASE("a wrong digest stores nothing") {
  Harness h;
  auto wrong = "sha256:" + std::string(64, '0');
  auto r = h.call("POST", "/v2/app/blobs/uploads/?digest=" + wrong, "some content");
  CHECK(r.status == 400);
  CHECK(error_code(r) == "DIGEST_INVALID");
  CHECK(h.files_under("blobs") == 0);
  CHECK(h.files_under("repositories/app/_uploads") == 0);
  CHECK(h.call("HEAD", "/v2/app/blobs/" + rs::digest_of("some content").str()).status == 404);
}

TEST_CASE("an interrupted monolithic upload leaves nothing behind") {
  Harness h;
  {
    Request req{"POST", "/v2/app/blobs/uploads/?digest=" + rs::digest_of("complete body").str(), {}, {}};
    Dispatch d = h.api.handle(req);
    REQUIRE(d.sink);
    REQUIRE_FALSE(d.sink->write("comp", 4));
    // The client goes away: the sink is dropped without finish().
  }
  CHECK(h.files_under("blobs") == 0);
  CHECK(h.files_under("repositories/app/_uploads") == 0);
}

TEST_CASE("sha512 blobs") {
  Harness h;
  auto digest = rs::digest_of("five", rs::DigestAlgorithm::sha512).str();
  auto start = h.call("POST", "/v2/app/blobs/uploads/");
  auto put = h.call("PUT", std::string(start.header("Location")) + "?digest=" + digest, "five");
  REQUIRE(put.status == 201);
  CHECK(h.read_file(h.call("GET", "/v2/app/blobs/" + digest)) == "five");
}

TEST_CASE("upload cancel and unknown uploads") {
  Harness h;
  auto start = h.call("POST", "/v2/app/blobs/uploads/");
  std::string location(start.header("Location"));
  CHECK(h.call("DELETE", location).status == 204);
  auto gone = h.call("GET", location);
  CHECK(gone.status == 404);
  CHECK(error_code(gone) == "BLOB_UPLOAD_UNKNOWN");
  CHECK(error_code(h.call("PATCH", "/v2/app/blobs/uploads/not-a-uuid", "x")) == "BLOB_UPLOAD_UNKNOWN");
}

TEST_CASE("manifests: push by tag, pull by tag and digest, missing blobs refused") {
  Harness h;
  auto config = h.push_blob("app", "{}");
  auto layer = h.push_blob("app", "layer bytes");
  auto body = manifest_for(config, layer, 2, 11);

  auto missing = h.call("PUT", "/v2/app/manifests/v1",
                        manifest_for(config, "sha256:" + std::string(64, 'c'), 2, 1), kOciType);
  CHECK(missing.status == 400);
  CHECK(error_code(missing) == "MANIFEST_BLOB_UNKNOWN");

  auto put = h.call("PUT", "/v2/app/manifests/v1", body, kOciType);
  REQUIRE(put.status == 201);
  auto digest = rs::digest_of(body).str();
  CHECK(put.header("Docker-Content-Digest") == digest);

  for (const std::string& ref : {std::string("v1"), digest}) {
    auto get = h.call("GET", "/v2/app/manifests/" + ref);
    REQUIRE(get.status == 200);
    CHECK(get.body == body);  // byte for byte
    CHECK(get.header("Content-Type") == media::kOciManifest);
    CHECK(get.header("Docker-Content-Digest") == digest);
  }
  // A blob pushed to one repository is not visible in another.
  CHECK(h.call("HEAD", "/v2/other/blobs/" + layer).status == 404);

  auto mismatch = h.call("PUT", "/v2/app/manifests/sha256:" + std::string(64, 'd'), body, kOciType);
  CHECK(error_code(mismatch) == "DIGEST_INVALID");
  auto invalid = h.call("PUT", "/v2/app/manifests/v2", "{nope", kOciType);
  CHECK(error_code(invalid) == "MANIFEST_INVALID");
}

TEST_CASE("manifest size limit") {
  StoreOptions o;
  o.max_manifest_bytes = 100;
  Harness h({}, o);
  auto r = h.call("PUT", "/v2/app/manifests/v1", std::string(101, ' '), kOciType);
  CHECK(r.status == 413);
  CHECK(error_code(r) == "SIZE_INVALID");
  auto declared = h.call("PUT", "/v2/app/manifests/v1", "", {{"Content-Length", "5000000"}});
  CHECK(declared.status == 413);
}

TEST_CASE("a raised manifest limit holds for reading back too") {
  StoreOptions o;
  o.max_manifest_bytes = 6 << 20;
  Harness h({}, o);
  auto config = h.push_blob("app", "{}");
  auto layer = h.push_blob("app", "L");
  // Over the default limit (4 MiB), within this one.
  auto body = manifest_for(config, layer, 2, 1, R"(,"annotations":{"pad":")" + std::string(5 << 20, 'x') + "\"}");
  REQUIRE(h.call("PUT", "/v2/app/manifests/big", body, kOciType).status == 201);
  auto get = h.call("GET", "/v2/app/manifests/big");
  CHECK(get.status == 200);
  CHECK(get.body.size() == body.size());
}

TEST_CASE("delete by tag removes the tag, by digest the manifest and its tags") {
  Harness h;
  auto config = h.push_blob("app", "{}");
  auto layer = h.push_blob("app", "L");
  auto body = manifest_for(config, layer, 2, 1);
  auto digest = rs::digest_of(body).str();
  REQUIRE(h.call("PUT", "/v2/app/manifests/a", body, kOciType).status == 201);
  REQUIRE(h.call("PUT", "/v2/app/manifests/b", body, kOciType).status == 201);

  CHECK(h.call("DELETE", "/v2/app/manifests/a").status == 202);
  CHECK(h.call("GET", "/v2/app/manifests/a").status == 404);
  CHECK(h.call("GET", "/v2/app/manifests/b").status == 200);

  CHECK(h.call("DELETE", "/v2/app/manifests/" + digest).status == 202);
  CHECK(h.call("GET", "/v2/app/manifests/b").status == 404);
  CHECK(h.call("GET", "/v2/app/manifests/" + digest).status == 404);
  CHECK(h.call("DELETE", "/v2/app/manifests/" + digest).status == 404);

  CHECK(h.call("DELETE", "/v2/app/blobs/" + layer).status == 202);
  CHECK(h.call("HEAD", "/v2/app/blobs/" + layer).status == 404);
}

TEST_CASE("delete disabled") {
  ApiOptions o;
  o.delete_enabled = false;
  Harness h(o);
  auto r = h.call("DELETE", "/v2/app/manifests/latest");
  CHECK(r.status == 405);
  CHECK(error_code(r) == "UNSUPPORTED");
}

TEST_CASE("the order of refusals: deletion switched off, a manifest's size, then its reference") {
  ApiOptions o;
  o.delete_enabled = false;
  Harness off(o);
  CHECK(error_code(off.call("DELETE", "/v2/app/manifests/.bad")) == "UNSUPPORTED");
  CHECK(error_code(off.call("DELETE", "/v2/app/blobs/sha256:zz")) == "DIGEST_INVALID");
  CHECK(error_code(off.call("DELETE", "/v2/app/blobs/sha256:" + std::string(64, 'a'))) == "UNSUPPORTED");

  Harness h;
  auto declared = h.call("PUT", "/v2/app/manifests/.bad", "", {{"Content-Length", "5000000"}});
  CHECK(error_code(declared) == "SIZE_INVALID");
  // The body of a PUT to a bad tag is read, then refused.
  Request req{"PUT", "/v2/app/manifests/.bad", kOciType, {}};
  Dispatch d = h.api.handle(req);
  REQUIRE(d.sink);
  REQUIRE_FALSE(d.sink->write("{}", 2));
  auto r = d.sink->finish();
  CHECK(r.status == 400);
  CHECK(error_code(r) == "TAG_INVALID");
}

TEST_CASE("tags and catalog: sorted, paginated with Link") {
  Harness h;
  auto config = h.push_blob("app", "{}");
  auto layer = h.push_blob("app", "L");
  auto body = manifest_for(config, layer, 2, 1);
  for (const char* tag : {"c", "a", "b", "d"})
    REQUIRE(h.call("PUT", std::string("/v2/app/manifests/") + tag, body, kOciType).status == 201);
  CHECK(h.call("GET", "/v2/app/tags/list").body == R"({"name":"app","tags":["a","b","c","d"]})");
  auto page = h.call("GET", "/v2/app/tags/list?n=2");
  CHECK(page.body == R"({"name":"app","tags":["a","b"]})");
  CHECK(page.header("Link") == R"(</v2/app/tags/list?n=2&last=b>; rel="next")");
  auto next = h.call("GET", "/v2/app/tags/list?n=2&last=b");
  CHECK(next.body == R"({"name":"app","tags":["c","d"]})");
  CHECK(next.header("Link").empty());
  CHECK(error_code(h.call("GET", "/v2/app/tags/list?n=x")) == "PAGINATION_NUMBER_INVALID");
  CHECK(error_code(h.call("GET", "/v2/nope/tags/list")) == "NAME_UNKNOWN");

  h.push_blob("z/nested/repo", "x");
  REQUIRE(h.call("POST", "/v2/lib/app/blobs/uploads/?mount=" + config + "&from=app").status == 201);
  REQUIRE(h.call("POST", "/v2/lib/app/blobs/uploads/?mount=" + layer + "&from=app").status == 201);
  REQUIRE(h.call("PUT", "/v2/lib/app/manifests/v1", body, kOciType).status == 201);
  CHECK(h.call("GET", "/v2/_catalog").body == R"({"repositories":["app","lib/app"]})");
  auto cat = h.call("GET", "/v2/_catalog?n=1");
  CHECK(cat.body == R"({"repositories":["app"]})");
  CHECK(cat.header("Link") == R"(</v2/_catalog?n=1&last=app>; rel="next")");
}

TEST_CASE("mount falls back to a session when the source lacks the blob") {
  Harness h;
  auto r = h.call("POST", "/v2/b/blobs/uploads/?mount=sha256:" + std::string(64, 'e') + "&from=a");
  CHECK(r.status == 202);
  CHECK(r.header("Location").find("/v2/b/blobs/uploads/") == 0);
}

TEST_CASE("a mount that succeeds is not refused for a bad digest beside it; one that falls back is") {
  Harness h;
  auto blob = h.push_blob("a", "mounted");
  auto mounted = h.call("POST", "/v2/b/blobs/uploads/?mount=" + blob + "&from=a&digest=sha256:zz");
  CHECK(mounted.status == 201);
  auto fallback = h.call("POST", "/v2/c/blobs/uploads/?mount=" + blob + "&from=nowhere&digest=sha256:zz");
  CHECK(fallback.status == 400);
  CHECK(error_code(fallback) == "DIGEST_INVALID");
  CHECK(h.files_under("repositories/c") == 0);
}

TEST_CASE("referrers: subject header on push, listing with artifactType filter") {
  Harness h;
  auto config = h.push_blob("app", "{}");
  auto layer = h.push_blob("app", "L");
  auto image = manifest_for(config, layer, 2, 1);
  auto image_digest = rs::digest_of(image).str();
  REQUIRE(h.call("PUT", "/v2/app/manifests/v1", image, kOciType).status == 201);

  auto subject = R"(,"artifactType":"application/vnd.example.sig","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                 image_digest + R"(","size":)" + std::to_string(image.size()) + "}";
  auto sig = manifest_for(config, layer, 2, 1, subject);
  auto put = h.call("PUT", "/v2/app/manifests/" + rs::digest_of(sig).str(), sig, kOciType);
  REQUIRE(put.status == 201);
  CHECK(put.header("OCI-Subject") == image_digest);

  auto list = h.call("GET", "/v2/app/referrers/" + image_digest);
  REQUIRE(list.status == 200);
  CHECK(list.header("Content-Type") == media::kOciIndex);
  CHECK_THAT(list.body, Catch::Contains(rs::digest_of(sig).str()));
  CHECK_THAT(list.body, Catch::Contains("application/vnd.example.sig"));

  auto filtered = h.call("GET", "/v2/app/referrers/" + image_digest + "?artifactType=application/other");
  CHECK(filtered.header("OCI-Filters-Applied") == "artifactType");
  CHECK_THAT(filtered.body, !Catch::Contains(rs::digest_of(sig).str()));
  CHECK(h.call("GET", "/v2/app/referrers/sha256:zz").status == 400);
}

TEST_CASE("hostile names and ids never reach the filesystem") {
  Harness h;
  for (const char* target : {"/v2/../../etc/blobs/uploads/", "/v2/%2e%2e/blobs/uploads/", "/v2/UP/blobs/uploads/"}) {
    auto r = h.call("POST", target);
    CHECK(r.status == 400);
    CHECK(error_code(r) == "NAME_INVALID");
  }
  CHECK(h.call("GET", "/v2/app/blobs/uploads/..%2f..%2f..").status == 404);
  CHECK(h.call("GET", "/v2/app/blobs/sha256:..%2f..").status == 400);
  CHECK(h.files_under("") == 0);
}

TEST_CASE("a mount from a name that is no repository falls back to a session") {
  Harness h;
  auto blob = h.push_blob("a", "mounted");
  for (const std::string from : {"UP", "..%2F..%2Fescape", ""}) {
    auto r = h.call("POST", "/v2/b/blobs/uploads/?mount=" + blob + "&from=" + from);
    CHECK(r.status == 202);
    CHECK(r.header("Location").find("/v2/b/blobs/uploads/") == 0);
  }
  CHECK(h.call("HEAD", "/v2/b/blobs/" + blob).status == 404);
}

TEST_CASE("a mount without from takes any blob the registry holds, else starts a session") {
  Harness h;
  auto blob = h.push_blob("a", "found anywhere");
  auto mounted = h.call("POST", "/v2/b/blobs/uploads/?mount=" + blob);
  CHECK(mounted.status == 201);
  CHECK(mounted.header("Docker-Content-Digest") == blob);
  CHECK(h.call("HEAD", "/v2/b/blobs/" + blob).status == 200);
  auto unknown = h.call("POST", "/v2/b/blobs/uploads/?mount=sha256:" + std::string(64, 'e'));
  CHECK(unknown.status == 202);
  CHECK(h.files_under("blobs") == 1);
}

TEST_CASE("beyond the caps on open uploads a new one is refused with 429 TOOMANYREQUESTS") {
  StoreOptions s;
  s.max_uploads_per_repository = 2;
  s.max_uploads = 3;
  Harness h({}, s);
  auto first = h.call("POST", "/v2/app/blobs/uploads/");
  REQUIRE(first.status == 202);
  REQUIRE(h.call("POST", "/v2/app/blobs/uploads/").status == 202);
  auto refused = h.call("POST", "/v2/app/blobs/uploads/");
  CHECK(refused.status == 429);
  CHECK(error_code(refused) == "TOOMANYREQUESTS");
  CHECK_THAT(refused.body, Catch::Contains("uploads in progress"));
  // A single-request upload is one too, while it lasts.
  auto content = std::string("monolithic");
  CHECK(h.call("POST", "/v2/app/blobs/uploads/?digest=" + rs::digest_of(content).str(), content).status == 429);
  REQUIRE(h.call("POST", "/v2/other/blobs/uploads/").status == 202);
  CHECK(error_code(h.call("POST", "/v2/third/blobs/uploads/")) == "TOOMANYREQUESTS");
  // A cancelled session makes room again.
  REQUIRE(h.call("DELETE", std::string(first.header("Location"))).status == 204);
  CHECK(h.call("POST", "/v2/third/blobs/uploads/").status == 202);
  CHECK(h.files_under("repositories/app/_uploads") == 2);  // (one session's data and startedat)
}

TEST_CASE("a 500 names the path inside the storage root, not where the root is on the host") {
  Harness h;
  // A file where the repository's directory should be: creating the upload fails.
  fs::create_directories(h.dir.path / "docker/registry/v2/repositories");
  std::ofstream(h.dir.path / "docker/registry/v2/repositories/app") << "in the way";
  auto r = h.call("POST", "/v2/app/blobs/uploads/");
  CHECK(r.status == 500);
  CHECK_THAT(r.body, Catch::Contains("/docker/registry/v2/repositories/app"));
  CHECK_THAT(r.body, !Catch::Contains(h.dir.str()));
  // The failed start leaves no place taken.
  fs::remove(h.dir.path / "docker/registry/v2/repositories/app");
  CHECK(h.store.open_uploads() == 0);
  CHECK(h.call("POST", "/v2/app/blobs/uploads/").status == 202);
}

TEST_CASE("out of open files: 503 with Retry-After, and serving again once files are free") {
  Harness h;
  auto digest = h.push_blob("lib/app", "some layer bytes");
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  // The lowest free descriptor becomes the limit: the next open fails with EMFILE.
  int probe = ::dup(0);
  REQUIRE(probe >= 0);
  ::close(probe);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(probe);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto busy = h.call("GET", "/v2/lib/app/blobs/" + digest);
  auto busy_push = h.call("POST", "/v2/lib/app/blobs/uploads/", "");
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(busy.status == 503);
  CHECK(busy.header("Retry-After") == "1");
  CHECK(busy.body.find("UNAVAILABLE") != std::string::npos);
  CHECK(busy_push.status == 503);
  auto again = h.call("GET", "/v2/lib/app/blobs/" + digest);
  CHECK(again.status == 200);
  CHECK(h.read_file(again) == "some layer bytes");
}

TEST_CASE("referrers: the PUT writes the index entry the listing answers from, without the manifest") {
  Harness h;
  ReferrersFixture f(h);
  auto sig_body = f.body("application/vnd.example.sig", "one");
  auto sig = f.push("application/vnd.example.sig", "one");
  // Before the answer: the descriptor of the referrer, in the subject's index.
  std::ifstream in(f.descriptor(sig));
  std::string entry((std::istreambuf_iterator<char>(in)), {});
  CHECK_THAT(entry, Catch::Contains(R"("mediaType":"application/vnd.oci.image.manifest.v1+json")"));
  CHECK_THAT(entry, Catch::Contains(R"("digest":")" + sig + '"'));
  CHECK_THAT(entry, Catch::Contains(R"("size":)" + std::to_string(sig_body.size())));
  CHECK_THAT(entry, Catch::Contains(R"("artifactType":"application/vnd.example.sig")"));
  CHECK_THAT(entry, Catch::Contains(R"("annotations":{"org.example.salt":"one"})"));
  // A manifest without a subject has none; no scan has run yet.
  CHECK(h.files_under("repositories/app/_referrers") == 1);
  CHECK_FALSE(fs::exists(f.complete()));

  REQUIRE(f.list().status == 200);
  CHECK(fs::exists(f.complete()));
  // The referrer's bytes replaced: a store without them cached still lists it from the entry.
  auto d = *rs::Digest::parse(sig);
  REQUIRE(h.driver.put_content(paths::blob_data(d), "not a manifest").ok());
  Store fresh(h.driver);
  Api api(fresh, {});
  auto r = api.handle({"GET", "/v2/app/referrers/" + f.subject, {}, {}}).response;
  REQUIRE(r.status == 200);
  CHECK(listed(r) == std::vector<std::string>{sig});
  CHECK_THAT(r.body, Catch::Contains(R"("size":)" + std::to_string(sig_body.size())));
  CHECK_THAT(r.body, Catch::Contains(R"("annotations":{"org.example.salt":"one"})"));
}

TEST_CASE("referrers: sorted by digest, filtered by artifactType") {
  Harness h;
  ReferrersFixture f(h);
  std::vector<std::string> sigs, all;
  for (const char* salt : {"a", "b", "c"}) sigs.push_back(f.push("application/vnd.example.sig", salt));
  auto sbom = f.push("application/vnd.example.sbom+json", "d");
  all = sigs;
  all.push_back(sbom);
  auto list = f.list();
  CHECK(list.header("Content-Type") == media::kOciIndex);
  CHECK(list.header("OCI-Filters-Applied").empty());
  CHECK(listed(list) == sorted(all));
  auto filtered = f.list("?artifactType=application/vnd.example.sig");
  CHECK(filtered.header("OCI-Filters-Applied") == "artifactType");
  CHECK(listed(filtered) == sorted(sigs));
  // ('+' in a query is a space: the type is sent escaped.)
  CHECK(listed(f.list("?artifactType=application/vnd.example.sbom%2Bjson")) == std::vector<std::string>{sbom});
  CHECK(listed(f.list("?artifactType=application/other")).empty());
  // Another subject has none of them; an unknown repository answers 200 and nothing is made for it.
  CHECK(listed(h.call("GET", "/v2/app/referrers/" + f.config)).empty());
  CHECK(h.call("GET", "/v2/nope/referrers/" + f.subject).status == 200);
  CHECK_FALSE(fs::exists(h.dir.path / "docker/registry/v2/repositories/nope"));
}

TEST_CASE("referrers: pages of n with a Link to the next, which keeps the filter") {
  ApiOptions o;
  o.max_list_entries = 3;
  Harness h(o);
  ReferrersFixture f(h);
  std::vector<std::string> sigs, all;
  for (const char* salt : {"a", "b", "c", "d", "e"}) sigs.push_back(f.push("application/vnd.example.sig", salt));
  all = sigs;
  all.push_back(f.push("application/vnd.example.sbom", "f"));
  all.push_back(f.push("application/vnd.example.sbom", "g"));

  // Following each Link as a client does.
  auto walk = [&](std::string target, std::size_t most) {
    std::vector<std::string> seen;
    for (int pages = 0; !target.empty(); ++pages) {
      REQUIRE(pages < 10);
      auto r = h.call("GET", target);
      REQUIRE(r.status == 200);
      auto page = listed(r);
      CHECK(page.size() <= most);
      CHECK_FALSE(page.empty());
      seen.insert(seen.end(), page.begin(), page.end());
      target = link_target(r);
    }
    return seen;
  };
  const std::string base = "/v2/app/referrers/" + f.subject;
  auto first = f.list("?n=2");
  CHECK(link_target(first) == base + "?n=2&last=" + sorted(all)[1]);
  CHECK(walk(base + "?n=2", 2) == sorted(all));
  auto filtered = f.list("?artifactType=application/vnd.example.sig&n=2");
  CHECK(filtered.header("OCI-Filters-Applied") == "artifactType");
  CHECK(link_target(filtered) == base + "?artifactType=application/vnd.example.sig&n=2&last=" + sorted(sigs)[1]);
  CHECK(walk(base + "?artifactType=application/vnd.example.sig&n=2", 2) == sorted(sigs));
  // Without ?n= (and with more than it) pages hold the configured most.
  CHECK(listed(f.list()).size() == 3);
  CHECK(walk(base + "?n=100", 3) == sorted(all));
  // The last page has no Link.
  CHECK(link_target(f.list("?last=" + sorted(all)[5])).empty());
  CHECK(listed(f.list("?last=" + sorted(all)[5])) == std::vector<std::string>{sorted(all)[6]});
  CHECK(error_code(f.list("?n=x")) == "PAGINATION_NUMBER_INVALID");
}

TEST_CASE("referrers: a repository without a complete index is scanned into it once") {
  Harness h;
  ReferrersFixture f(h);
  auto old_a = f.write_as_registry2("application/vnd.example.sig", "a");
  auto old_b = f.write_as_registry2("application/vnd.example.sbom", "b");
  // A PUT while the index is not complete enters itself; the scan adds the others.
  auto pushed = f.push("application/vnd.example.sig", "c");
  CHECK_FALSE(fs::exists(f.descriptor(old_a)));
  CHECK(listed(f.list()) == sorted({old_a, old_b, pushed}));
  CHECK(fs::exists(f.complete()));
  CHECK(fs::exists(f.descriptor(old_a)));
  CHECK(fs::exists(f.descriptor(old_b)));
  CHECK(listed(f.list("?artifactType=application/vnd.example.sig")) == sorted({old_a, pushed}));

  // Complete now: what registry:2 writes afterwards is not scanned for (the listing reads
  // the index only), until the mark is removed.
  auto later = f.write_as_registry2("application/vnd.example.sig", "d");
  CHECK(listed(f.list()) == sorted({old_a, old_b, pushed}));
  fs::remove(f.complete());
  CHECK(listed(f.list()) == sorted({old_a, old_b, pushed, later}));
}

TEST_CASE("referrers: a deleted referrer leaves the index, one whose revision another writer removed is skipped") {
  Harness h;
  ReferrersFixture f(h);
  auto kept = f.push("application/vnd.example.sig", "a");
  auto deleted = f.push("application/vnd.example.sig", "b");
  auto unlinked = f.push("application/vnd.example.sig", "c");
  REQUIRE(listed(f.list()) == sorted({kept, deleted, unlinked}));

  REQUIRE(h.call("DELETE", "/v2/app/manifests/" + deleted).status == 202);
  CHECK_FALSE(fs::exists(f.descriptor(deleted).parent_path()));
  CHECK(listed(f.list()) == std::vector<std::string>{sorted({kept, unlinked})});

  // registry:2 deleting it removes the revision only: the entry stays, unlisted.
  auto d = *rs::Digest::parse(unlinked);
  fs::remove_all(h.dir.path / ("docker/registry/v2/repositories/app/_manifests/revisions/sha256/" + d.hex));
  CHECK(fs::exists(f.descriptor(unlinked)));
  CHECK(listed(f.list()) == std::vector<std::string>{kept});
  // Pushed again, both are back.
  CHECK(f.push("application/vnd.example.sig", "b") == deleted);
  CHECK(f.push("application/vnd.example.sig", "c") == unlinked);
  CHECK(listed(f.list()) == sorted({kept, deleted, unlinked}));
}

// Not a test: a timing to read by hand (`registry_tests "[bench]"`), never run by ctest.
// 20 manifests of about 4 MiB each (28000 layer entries), each a referrer of one image.
TEST_CASE("referrers timing: 20 x 4 MiB manifests", "[.][bench]") {
  Harness h;
  auto config = h.push_blob("app", "{}");
  auto layer = h.push_blob("app", "L");
  auto image = manifest_for(config, layer, 2, 1);
  auto image_digest = rs::digest_of(image).str();
  REQUIRE(h.call("PUT", "/v2/app/manifests/v1", image, kOciType).status == 201);
  std::string layers;
  const std::string one = R"(,{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + layer +
                          R"(","size":1})";
  while (layers.size() + one.size() < (4u << 20) - 2048) layers += one;
  for (int i = 0; i < 20; ++i) {
    auto body = manifest_for(config, layer, 2, 1, R"(,"artifactType":"application/vnd.example.)" +
                                                      std::to_string(i % 2) +
                                                      R"(","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                                                      image_digest + R"(","size":)" + std::to_string(image.size()) + "}");
    body.insert(body.find("}]") + 1, layers);
    REQUIRE(h.call("PUT", "/v2/app/manifests/" + rs::digest_of(body).str(), body, kOciType).status == 201);
  }
  auto timed = [&](const std::string& target) {
    auto start = std::chrono::steady_clock::now();
    auto r = h.call("GET", target);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(r.status == 200);
    return s;
  };
  const std::string target = "/v2/app/referrers/" + image_digest;
  double first = timed(target);
  std::vector<double> again;
  for (int i = 0; i < 5; ++i) again.push_back(timed(target));
  std::sort(again.begin(), again.end());
  double filtered = timed(target + "?artifactType=application/vnd.example.1");
  std::printf("referrers of 20 x 4 MiB: first %.6f s, then median %.6f s (min %.6f), filtered %.6f s\n", first,
              again[2], again[0], filtered);
}

// ---- auth.htpasswd ----

namespace {

// `htpasswd -nbB -C 4 bob hunter2`.
constexpr const char* kBobEntry = "bob:$2y$04$pkQphvdbgA71XjnHaQKneOeWZ6mkggieIN1jlDvwh7ykXdGaxCV0a\n";

std::vector<Header> basic(const std::string& user_colon_password_b64) {
  return {{"Authorization", "Basic " + user_colon_password_b64}};
}

// An htpasswd file in the harness's directory with bob's entry, loaded.
std::unique_ptr<HtpasswdChecker> bob_checker(Harness& h) {
  const auto file = (h.dir.path / "htpasswd").string();
  std::ofstream(file) << kBobEntry;
  HtpasswdCheckerOptions o;
  o.log_error = [](const std::string&) {};
  auto checker = std::make_unique<HtpasswdChecker>(file, o);
  REQUIRE(checker->load().ok());
  return checker;
}

}  // namespace

TEST_CASE("with htpasswd every request needs a user's credentials: 401 with a Basic challenge otherwise") {
  Harness h;
  auto checker_ptr = bob_checker(h);
  HtpasswdChecker& checker = *checker_ptr;
  // Before: open.
  CHECK(h.call("GET", "/v2/").status == 200);
  Gate gate(GateOptions{&checker, "my \"realm\"", std::nullopt, nullptr});
  h.api.use_gate(gate);
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v2/"}, {"GET", "/v2/_catalog"}, {"HEAD", "/v2/app/manifests/latest"},
           {"POST", "/v2/app/blobs/uploads/"}, {"DELETE", "/v2/app/manifests/latest"}, {"GET", "/v2/nothing/here/x"}}) {
    INFO(method << " " << target);
    auto r = h.call(method, target);
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Basic realm=\"my _realm_\"");
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.body == R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]})");
  }
  CHECK(h.files_under("repositories") == 0);
  // "bob:hunter2", "bob:wrong", "eve:hunter2", not base64, another scheme.
  CHECK(h.call("GET", "/v2/", "", basic("Ym9iOmh1bnRlcjI=")).status == 200);
  CHECK(h.call("GET", "/v2/", "", basic("Ym9iOndyb25n")).status == 401);
  CHECK(h.call("GET", "/v2/", "", basic("ZXZlOmh1bnRlcjI=")).status == 401);
  CHECK(h.call("GET", "/v2/", "", basic("Ym9iOmh1bnRlcjI")).status == 401);
  CHECK(h.call("GET", "/v2/", "", {{"Authorization", "Bearer Ym9iOmh1bnRlcjI="}}).status == 401);
  // An authorized user may do everything: push a blob, read it back.
  const std::string blob = "layer bytes";
  const auto digest = rs::digest_of(blob).str();
  auto pushed = h.call("POST", "/v2/app/blobs/uploads/?digest=" + digest, blob, basic("Ym9iOmh1bnRlcjI="));
  CHECK(pushed.status == 201);
  CHECK(h.call("HEAD", "/v2/app/blobs/" + digest, "", basic("Ym9iOmh1bnRlcjI=")).status == 200);
  CHECK(h.call("HEAD", "/v2/app/blobs/" + digest).status == 401);
  // Without access rules a user may pull everything: a mount by content discovery is fine.
  CHECK(h.call("POST", "/v2/copy/blobs/uploads/?mount=" + digest, "", basic("Ym9iOmh1bnRlcjI=")).status == 201);
  // Known credentials make no bcrypt on the I/O thread; new ones do.
  CHECK_FALSE(h.api.auth_would_block({"GET", "/v2/", basic("Ym9iOmh1bnRlcjI="), {}}));
  CHECK(h.api.auth_would_block({"GET", "/v2/", {{"Authorization", "Basic Ym9iOmh1bnRlcjIy"}}, {}}));
  CHECK_FALSE(h.api.auth_would_block({"GET", "/v2/", {}, {}}));
}

TEST_CASE("with htpasswd an address that failed 10 logins within a minute gets 429 with Retry-After") {
  Harness h;
  auto checker_ptr = bob_checker(h);
  HtpasswdChecker& checker = *checker_ptr;
  Gate gate(GateOptions{&checker, "r", std::nullopt, nullptr});
  h.api.use_gate(gate);
  auto call_from = [&](const std::string& remote, const std::string& b64) {
    Request req{"GET", "/v2/", basic(b64), remote};
    return std::move(h.api.handle(req).response);
  };
  // Asking without credentials is the challenge, not a failure.
  for (int i = 0; i < 20; ++i) REQUIRE(call_from("10.1.1.1", "").status == 401);
  CHECK(call_from("10.1.1.1", "Ym9iOmh1bnRlcjI=").status == 200);
  for (int i = 0; i < 10; ++i) REQUIRE(call_from("10.1.1.1", "Ym9iOndyb25n").status == 401);
  auto r = call_from("10.1.1.1", "Ym9iOmh1bnRlcjI=");
  CHECK(r.status == 429);
  CHECK(error_code(r) == "TOOMANYREQUESTS");
  const auto retry = std::stoi(std::string(r.header("Retry-After")));
  CHECK(retry >= 59);
  CHECK(retry <= 60);
  CHECK(call_from("10.1.1.2", "Ym9iOmh1bnRlcjI=").status == 200);
}

// ---- access rules and tokens ----

namespace {

std::string b64(const std::string& text) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(text[i]) << 16;
    if (i + 1 < text.size()) v |= static_cast<unsigned char>(text[i + 1]) << 8;
    if (i + 2 < text.size()) v |= static_cast<unsigned char>(text[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < text.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < text.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::vector<Header> login(const std::string& user) { return basic(b64(user + ":" + user + "-pw")); }
std::vector<Header> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// alice, bob and carol (password "<name>-pw"), and the rules of a small team:
// alice develops (pull, push on team/**), bob only pulls team/**, carol administers all;
// anyone may pull public/**.
struct Team {
  Harness& h;
  std::unique_ptr<HtpasswdChecker> users;
  std::unique_ptr<TokenAuthority> tokens;
  std::unique_ptr<Gate> gate;

  Team(Harness& harness, bool token_mode) : h(harness) {
    const auto file = (h.dir.path / "htpasswd").string();
    std::ofstream out(file);
    for (const char* user : {"alice", "bob", "carol"}) {
      auto hash = bcrypt_hash(std::string(user) + "-pw", 4);
      REQUIRE(hash.ok());
      out << user << ":" << *hash << "\n";
    }
    out.close();
    HtpasswdCheckerOptions o;
    o.log_error = [](const std::string&) {};
    users = std::make_unique<HtpasswdChecker>(file, o);
    REQUIRE(users->load().ok());
    AccessPolicy policy({{"developers", {"alice"}}},
                        {{"public/**", kPull, 0, {}, {}},
                         {"team/**", 0, 0, {{"bob", kPull}}, {{"developers", kPull | kPush}}},
                         {"**", 0, 0, {{"carol", kAllActions}}, {}}});
    if (token_mode) {
      TokenOptions t;
      t.service = "registry.test";
      t.issuer = "registry-setup";
      t.signingkey = (h.dir.path / "token.key").string();
      auto made = TokenAuthority::create(t, true);
      REQUIRE(made.ok());
      tokens = std::move(*made);
    }
    gate = std::make_unique<Gate>(GateOptions{users.get(), "team", std::move(policy), tokens.get()});
    h.api.use_gate(*gate);
  }

  // An image tagged v1 in `repo`, pushed by carol (who may do everything).
  void image(const std::string& repo) {
    const std::string config = rs::digest_of("{}").str(), layer = rs::digest_of("L").str();
    for (const auto& [content, digest] : {std::pair{std::string("{}"), config}, std::pair{std::string("L"), layer}})
      REQUIRE(h.call("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest, content, login("carol")).status == 201);
    auto headers = kOciType;
    headers.push_back(login("carol")[0]);
    REQUIRE(h.call("PUT", "/v2/" + repo + "/manifests/v1", manifest_for(config, layer, 2, 1), headers).status == 201);
  }

  // The token the token endpoint hands `user` (empty: anonymous) for `scope`.
  std::string token(const std::string& user, const std::string& scope) {
    auto r = h.call("GET", "/auth/token?service=registry.test&scope=" + scope, "", user.empty() ? std::vector<Header>{} : login(user));
    REQUIRE(r.status == 200);
    auto body = nlohmann::json::parse(r.body);
    REQUIRE(body["token"] == body["access_token"]);
    return body["token"];
  }
};

}  // namespace

TEST_CASE("access rules with Basic: grants by user, group and anonymous; 403 DENIED for users, 401 for anonymous") {
  Harness h;
  Team team(h, /*token_mode=*/false);
  const std::string blob = "team layer";
  const auto digest = rs::digest_of(blob).str();
  auto push = [&](const std::string& repo, std::vector<Header> who) {
    return h.call("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest, blob, std::move(who));
  };
  CHECK(push("team/app", login("alice")).status == 201);
  CHECK(push("public/app", login("carol")).status == 201);
  CHECK(push("private/app", login("carol")).status == 201);
  // bob may pull team/** only; alice may not push outside team/**.
  auto denied = push("team/app", login("bob"));
  CHECK(denied.status == 403);
  CHECK(error_code(denied) == "DENIED");
  CHECK(denied.header("WWW-Authenticate").empty());
  CHECK(push("public/app", login("alice")).status == 403);
  CHECK(h.call("HEAD", "/v2/team/app/blobs/" + digest, "", login("bob")).status == 200);
  CHECK(h.call("HEAD", "/v2/private/app/blobs/" + digest, "", login("bob")).status == 403);
  // Anonymous: pull of public/** only; everything else asks for credentials.
  CHECK(h.call("HEAD", "/v2/public/app/blobs/" + digest).status == 200);
  auto anonymous = h.call("HEAD", "/v2/team/app/blobs/" + digest);
  CHECK(anonymous.status == 401);
  CHECK(anonymous.header("WWW-Authenticate") == "Basic realm=\"team\"");
  CHECK(push("public/app", {}).status == 401);
  CHECK(h.call("GET", "/v2/").status == 401);
  // Delete needs delete: only carol has it.
  CHECK(h.call("DELETE", "/v2/team/app/blobs/" + digest, "", login("alice")).status == 403);
  CHECK(h.call("DELETE", "/v2/team/app/blobs/" + digest, "", login("carol")).status == 202);
  // Wrong credentials are refused even where anonymous callers may pull.
  CHECK(h.call("HEAD", "/v2/public/app/blobs/" + digest, "", basic(b64("alice:wrong"))).status == 401);
}

TEST_CASE("access rules: the catalog lists what the caller may pull; a mount needs pull on its source") {
  Harness h;
  Team team(h, false);
  const std::string blob = "shared layer";
  const auto digest = rs::digest_of(blob).str();
  for (const char* repo : {"team/app", "public/base", "private/secret"}) {
    team.image(repo);
    REQUIRE(h.call("POST", std::string("/v2/") + repo + "/blobs/uploads/?digest=" + digest, blob, login("carol")).status == 201);
  }
  auto listed = [&](std::vector<Header> who) {
    auto r = h.call("GET", "/v2/_catalog", "", std::move(who));
    REQUIRE(r.status == 200);
    return nlohmann::json::parse(r.body)["repositories"];
  };
  CHECK(listed(login("carol")) == nlohmann::json::array({"private/secret", "public/base", "team/app"}));
  CHECK(listed(login("alice")) == nlohmann::json::array({"public/base", "team/app"}));
  CHECK(listed({}) == nlohmann::json::array({"public/base"}));
  // ?n= pages over what the caller sees.
  auto page = h.call("GET", "/v2/_catalog?n=1", "", login("alice"));
  CHECK(nlohmann::json::parse(page.body)["repositories"] == nlohmann::json::array({"public/base"}));
  // alice mounts from public/** (she may pull it) into team/**, not from private/**: that
  // becomes a plain upload, and so does a mount without ?from= (no discovery across repos).
  CHECK(h.call("POST", "/v2/team/copy/blobs/uploads/?mount=" + digest + "&from=public/base", "", login("alice")).status == 201);
  auto refused_mount = h.call("POST", "/v2/team/other/blobs/uploads/?mount=" + digest + "&from=private/secret", "", login("alice"));
  CHECK(refused_mount.status == 202);
  CHECK(h.call("HEAD", "/v2/team/other/blobs/" + digest, "", login("alice")).status == 404);
  CHECK(h.call("POST", "/v2/team/third/blobs/uploads/?mount=" + digest, "", login("alice")).status == 202);
  CHECK(h.call("POST", "/v2/private/x/blobs/uploads/?mount=" + digest, "", login("carol")).status == 202);
}

TEST_CASE("token mode: the Bearer challenge, the token endpoint's grants, and what a token allows") {
  Harness h;
  Team team(h, /*token_mode=*/true);
  auto challenge = h.call("GET", "/v2/", "", {{"Host", "reg.test:5000"}});
  CHECK(challenge.status == 401);
  CHECK(challenge.header("WWW-Authenticate") == "Bearer realm=\"http://reg.test:5000/auth/token\",service=\"registry.test\"");
  auto scoped = h.call("POST", "/v2/team/app/blobs/uploads/", "", {{"Host", "reg.test:5000"}});
  CHECK(scoped.header("WWW-Authenticate") ==
        "Bearer realm=\"http://reg.test:5000/auth/token\",service=\"registry.test\",scope=\"repository:team/app:pull,push\"");
  // A hostile Host cannot inject into the challenge.
  auto hostile = h.call("GET", "/v2/", "", {{"Host", "evil\",x=\"y"}});
  CHECK(hostile.header("WWW-Authenticate") == "Bearer realm=\"http://localhost/auth/token\",service=\"registry.test\"");

  const std::string blob = "token layer";
  const auto digest = rs::digest_of(blob).str();
  const std::string push_scope = "repository:team/app:pull,push";
  // alice gets pull and push; bob asks for the same and gets pull only.
  const auto alice = team.token("alice", push_scope);
  const auto bob = team.token("bob", push_scope);
  auto bob_claims = team.tokens->verify(bob);
  REQUIRE(bob_claims.ok());
  CHECK(bob_claims->access == std::vector<Grant>{{"repository", "team/app", kPull}});
  CHECK(h.call("POST", "/v2/team/app/blobs/uploads/?digest=" + digest, blob, bearer(alice)).status == 201);
  CHECK(h.call("HEAD", "/v2/team/app/blobs/" + digest, "", bearer(bob)).status == 200);
  auto bob_push = h.call("POST", "/v2/team/app/blobs/uploads/?digest=" + digest, blob, bearer(bob));
  CHECK(bob_push.status == 403);
  CHECK(error_code(bob_push) == "DENIED");
  // A token for one repository is no token for another, even one its user may use: the
  // client is told to fetch a token for that scope.
  auto elsewhere = h.call("POST", "/v2/team/other/blobs/uploads/", "", bearer(alice));
  CHECK(elsewhere.status == 401);
  CHECK_THAT(std::string(elsewhere.header("WWW-Authenticate")), Catch::EndsWith(",error=\"insufficient_scope\""));
  // Anonymous: a token with pull on public/**, nothing on team/**.
  const auto anonymous = team.token("", "repository:public/app:pull,push&scope=repository:team/app:pull");
  auto anonymous_claims = team.tokens->verify(anonymous);
  REQUIRE(anonymous_claims.ok());
  CHECK(anonymous_claims->subject.empty());
  CHECK(anonymous_claims->access == std::vector<Grant>{{"repository", "public/app", kPull}});
  CHECK(h.call("GET", "/v2/", "", bearer(anonymous)).status == 200);
  CHECK(h.call("HEAD", "/v2/team/app/blobs/" + digest, "", bearer(anonymous)).status == 401);
  // A tampered token is refused as invalid.
  std::string tampered = alice;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  auto invalid = h.call("HEAD", "/v2/team/app/blobs/" + digest, "", bearer(tampered));
  CHECK(invalid.status == 401);
  CHECK_THAT(std::string(invalid.header("WWW-Authenticate")), Catch::EndsWith(",error=\"invalid_token\""));
  // Basic credentials work directly too (curl -u), by the same rules.
  CHECK(h.call("HEAD", "/v2/team/app/blobs/" + digest, "", login("bob")).status == 200);
  CHECK(h.call("POST", "/v2/team/app/blobs/uploads/", "", login("bob")).status == 403);
}

TEST_CASE("token endpoint: wrong password, another service, POST, and the catalog scope") {
  Harness h;
  Team team(h, true);
  auto wrong = h.call("GET", "/auth/token?service=registry.test&scope=repository:team/app:pull", "", basic(b64("alice:nope")));
  CHECK(wrong.status == 401);
  CHECK(wrong.header("WWW-Authenticate") == "Basic realm=\"team\"");
  CHECK(h.call("GET", "/auth/token?service=elsewhere", "", login("alice")).status == 400);
  CHECK(h.call("POST", "/auth/token", "grant_type=password").status == 405);
  CHECK(h.call("GET", "/auth/tokens", "", login("alice")).status == 404);
  // A bad scope is dropped, not fatal; names the router would refuse get nothing.
  const auto odd = team.token("alice", "nonsense&scope=repository:UPPER/case:pull&scope=repository:team/app:pull");
  auto odd_claims = team.tokens->verify(odd);
  REQUIRE(odd_claims.ok());
  CHECK(odd_claims->access == std::vector<Grant>{{"repository", "team/app", kPull}});
  // The catalog: any user's token lists what that user may pull.
  team.image("private/x");
  team.image("team/x");
  auto no_token = h.call("GET", "/v2/_catalog", "", {{"Host", "r"}});
  CHECK(no_token.status == 200);  // anonymous callers may pull public/**: they may list it (nothing there)
  CHECK(nlohmann::json::parse(no_token.body)["repositories"].empty());
  const auto catalog = team.token("alice", "registry:catalog:*");
  auto listed = h.call("GET", "/v2/_catalog", "", bearer(catalog));
  REQUIRE(listed.status == 200);
  CHECK(nlohmann::json::parse(listed.body)["repositories"] == nlohmann::json::array({"team/x"}));
}
