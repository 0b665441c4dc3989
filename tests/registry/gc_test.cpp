#include "registry/gc.hpp"

#include "registry/manifest.hpp"
#include "registry/memory_driver.hpp"
#include "registry/paths.hpp"
#include "registry/storage_lock.hpp"
#include "registry/store.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace rs::registry;
using rs::Digest;
using std::chrono::hours;
using std::chrono::seconds;
using Time = std::chrono::system_clock::time_point;

namespace {

// A store on a MemoryDriver whose clock the test moves on: what is written "now" is older
// than the grace window once the clock has moved by more than it.
struct Fixture {
  Time now = Time(hours(24 * 365 * 50));
  MemoryDriver driver{[this] { return now; }};
  Store store{driver};

  Digest blob(const std::string& repo, const std::string& content) {
    const Digest d = rs::digest_of(content);
    REQUIRE(driver.put_content(paths::blob_data(d), content).ok());
    REQUIRE(store.link_blob(repo, d).ok());
    return d;
  }

  Digest manifest(const std::string& repo, const std::string& bytes, const std::string& tag = {}) {
    auto parsed = parse_manifest(bytes, "");
    REQUIRE(parsed.ok());
    const Digest d = rs::digest_of(bytes);
    REQUIRE(store.put_manifest(repo, d, bytes, *parsed).ok());
    if (!tag.empty()) REQUIRE(store.tag(repo, tag, d).ok());
    return d;
  }

  // An image manifest of `config` and `layers` (each pushed into `repo`), optionally
  // naming a subject.
  Digest image(const std::string& repo, const std::string& salt, const std::vector<std::string>& layers,
               const std::string& tag = {}, const std::optional<Digest>& subject = {}) {
    const Digest config = blob(repo, "config " + salt);
    std::string json = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                       config.str() + R"(","size":)" + std::to_string(("config " + salt).size()) + R"(},"layers":[)";
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Digest l = blob(repo, layers[i]);
      json += (i ? "," : "") + std::string(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")") +
              l.str() + R"(","size":)" + std::to_string(layers[i].size()) + "}";
    }
    json += "]";
    if (subject)
      json += R"(,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + subject->str() +
              R"(","size":1})";
    json += "}";
    return manifest(repo, json, tag);
  }

  Digest index(const std::string& repo, const std::vector<Digest>& children, const std::string& tag = {}) {
    std::string json = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)";
    for (std::size_t i = 0; i < children.size(); ++i)
      json += (i ? "," : "") + std::string(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")") +
              children[i].str() + R"(","size":1,"platform":{"architecture":"a)" + std::to_string(i) +
              R"(","os":"linux"}})";
    json += "]}";
    return manifest(repo, json, tag);
  }

  GcOptions options(bool delete_untagged = false) {
    GcOptions o;
    o.delete_untagged = delete_untagged;
    o.now = [this] { return now; };
    return o;
  }

  GcReport collect(bool delete_untagged = false) {
    auto r = collect_garbage(driver, options(delete_untagged));
    REQUIRE(r.ok());
    return *r;
  }

  bool has_blob(const Digest& d) { return driver.stat(paths::blob_data(d)).ok(); }
  bool has_blob(const std::string& content) { return has_blob(rs::digest_of(content)); }
};

}  // namespace

TEST_CASE("gc: unreferenced blobs older than the grace window go, with their links; the rest stays") {
  Fixture f;
  const Digest a = f.image("app", "a", {"shared", "only a"}, "v1");
  const Digest b = f.image("app", "b", {"shared", "only b"}, "v2");
  const Digest stray = f.blob("app", "uploaded, never referenced");
  REQUIRE(f.store.delete_manifest("app", b).ok());
  f.now += hours(2);
  const Digest young = f.blob("app", "uploaded a minute ago");

  auto dry = collect_garbage(f.driver, [&] { auto o = f.options(); o.dry_run = true; return o; }());
  REQUIRE(dry.ok());
  CHECK(dry->plan.garbage.size() == 4);  // b's manifest, config and own layer; the stray blob
  CHECK(f.has_blob(stray));              // a dry run changes nothing

  const GcReport r = f.collect();
  CHECK(r.blobs_deleted == 4);
  CHECK(r.bytes_freed == dry->plan.garbage_bytes);
  CHECK_FALSE(f.has_blob(b));
  CHECK_FALSE(f.has_blob("only b"));
  CHECK_FALSE(f.has_blob("config b"));
  CHECK_FALSE(f.has_blob(stray));
  CHECK_FALSE(f.driver.stat(paths::layer_link("app", rs::digest_of("only b"))).ok());
  CHECK(f.has_blob(a));
  CHECK(f.has_blob("shared"));
  CHECK(f.has_blob("only a"));
  CHECK(f.has_blob(young));
  CHECK(r.plan.blobs_young == 1);
  CHECK(f.store.get_manifest("app", a).ok());
  // Nothing left to do, and no lock or trash behind.
  CHECK(f.collect().blobs_deleted == 0);
  CHECK_FALSE(f.driver.stat(gc_paths::kLock).ok());
  CHECK_FALSE(f.driver.stat(gc_paths::kTrash).ok());
}

TEST_CASE("gc: --delete-untagged takes untagged manifests, never the children of a kept index") {
  Fixture f;
  const Digest amd = f.image("multi", "amd", {"amd layer"}, "amd64");  // a child also tagged
  const Digest arm = f.image("multi", "arm", {"arm layer"});
  const Digest idx = f.index("multi", {amd, arm}, "latest");
  const Digest kept_amd = f.image("kept", "kamd", {"kamd layer"});
  const Digest kept_arm = f.image("kept", "karm", {"karm layer"});
  const Digest kept_idx = f.index("kept", {kept_amd, kept_arm}, "latest");
  const Digest untagged = f.image("kept", "old", {"old layer"});
  REQUIRE(f.store.untag("multi", "latest").ok());
  REQUIRE(f.store.delete_manifest("multi", idx).ok());
  f.now += hours(2);

  SECTION("without it every revision stays") {
    f.collect();
    CHECK(f.has_blob(arm));
    CHECK(f.has_blob(untagged));
    CHECK(f.has_blob(amd));
  }
  SECTION("with it exactly the right ones go") {
    const GcReport r = f.collect(true);
    CHECK_FALSE(f.has_blob(idx));
    CHECK_FALSE(f.has_blob(arm));
    CHECK_FALSE(f.has_blob("arm layer"));
    CHECK_FALSE(f.store.has_manifest("multi", arm));
    CHECK(f.has_blob(amd));
    CHECK(f.has_blob("amd layer"));
    CHECK(f.store.get_manifest("multi", amd).ok());
    // registry:2 #3178: the children of a tagged index are kept.
    CHECK(f.has_blob(kept_idx));
    CHECK(f.store.get_manifest("kept", kept_amd).ok());
    CHECK(f.store.get_manifest("kept", kept_arm).ok());
    CHECK(f.has_blob("karm layer"));
    CHECK_FALSE(f.store.has_manifest("kept", untagged));
    CHECK_FALSE(f.has_blob("old layer"));
    CHECK(r.revisions_deleted == 2);  // multi@arm, kept@old (the index was deleted by hand)
  }
}

TEST_CASE("gc: a referrer lives while its subject lives") {
  Fixture f;
  const Digest subject = f.image("app", "s", {"s layer"}, "v1");
  const Digest signature = f.image("app", "sig", {"signature bytes"}, {}, subject);
  const Digest sig_of_sig = f.image("app", "sig2", {"countersignature"}, {}, signature);
  f.now += hours(2);
  f.collect(true);
  CHECK(f.store.get_manifest("app", signature).ok());
  CHECK(f.store.get_manifest("app", sig_of_sig).ok());
  CHECK(f.has_blob("signature bytes"));

  REQUIRE(f.store.delete_manifest("app", subject).ok());
  f.now += hours(2);
  f.collect();  // even keeping untagged revisions: a referrer of nothing is garbage
  CHECK_FALSE(f.store.has_manifest("app", signature));
  CHECK_FALSE(f.store.has_manifest("app", sig_of_sig));
  CHECK_FALSE(f.has_blob(signature));
  CHECK_FALSE(f.has_blob("signature bytes"));
  CHECK_FALSE(f.has_blob("countersignature"));
  CHECK_FALSE(f.driver.stat(paths::referrer_descriptor("app", subject, signature)).ok());
  // The repository is empty now: it leaves the catalog.
  CHECK(f.store.list_repositories()->empty());
}

TEST_CASE("gc: a push that references an old blob during the sweep keeps it") {
  Fixture f;
  const Digest old = f.image("app", "old", {"old layer"}, "v1");
  REQUIRE(f.store.delete_manifest("app", old).ok());
  const Digest child = f.image("multi", "child", {"child layer"});
  f.now += hours(2);
  GcOptions o = f.options(true);
  // Between the plan and the sweep: a manifest PUT in another repository reuses the old
  // layer (mounted), and an index PUT references the untagged child.
  o.before_sweep = [&] {
    REQUIRE(f.store.mount_blob("new", "app", rs::digest_of("old layer")).ok());
    REQUIRE(f.store.reference_blob("new", rs::digest_of("old layer")).ok());
    REQUIRE(f.store.reference_manifest("multi", child).ok());
  };
  auto r = collect_garbage(f.driver, o);
  REQUIRE(r.ok());
  CHECK(r->plan.garbage.size() >= 4);  // planned: old's manifest, config, layer; the child's
  CHECK(r->revived >= 3);
  CHECK(f.has_blob("old layer"));
  CHECK(f.store.blob_size("new", rs::digest_of("old layer")).ok());
  CHECK(f.store.get_manifest("multi", child).ok());
  CHECK(f.has_blob("child layer"));  // reached through the child: touched with it
  CHECK_FALSE(f.has_blob(old));      // nobody referenced old's manifest
}

TEST_CASE("gc: a manifest that cannot be parsed stops the sweep") {
  Fixture f;
  f.image("app", "a", {"layer"}, "v1");
  const std::string junk = "{not json";
  const Digest bad = rs::digest_of(junk);
  REQUIRE(f.driver.put_content(paths::blob_data(bad), junk).ok());
  REQUIRE(f.driver.put_content(paths::revision_link("app", bad), bad.str()).ok());
  f.blob("app", "stray");
  f.now += hours(2);
  auto r = collect_garbage(f.driver, f.options());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find(bad.str()) != std::string::npos);
  CHECK(f.has_blob("stray"));
}

TEST_CASE("gc: one collection at a time; an expired lock is taken over, a killed sweep undone") {
  Fixture f;
  f.image("app", "a", {"layer"}, "v1");
  const Digest stray = f.blob("app", "stray");
  f.now += hours(2);
  auto held = StorageLock::acquire(f.driver, gc_paths::kLock, "other", seconds(60), [&] { return f.now; });
  REQUIRE(held.ok());
  auto busy = collect_garbage(f.driver, f.options());
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.error().code == rs::Errc::conflict);
  CHECK(busy.error().message.find("other") != std::string::npos);
  CHECK(f.has_blob(stray));

  // The holder crashed mid-sweep: the stray blob was moved aside, the lock never released.
  std::string aside = paths::blob_data(stray).substr(paths::kRoot.size());
  for (std::size_t at; (at = aside.find('/')) != std::string::npos;) aside.replace(at, 1, "%2F");
  aside = gc_paths::kTrash + "/crashed/" + aside;
  REQUIRE(f.driver.move(paths::blob_data(stray), aside).ok());
  // And a link of a repository whose name is too long for one flat trash entry: nested.
  const std::string long_name = "team/" + std::string(200, 'x');
  const Digest kept = f.image(long_name, "long", {"long layer"}, "v1");
  const std::string link = paths::layer_link(long_name, rs::digest_of("long layer"));
  REQUIRE(f.driver.move(link, gc_paths::kTrash + "/crashed/nested" + link.substr(paths::kRoot.size())).ok());
  f.now += seconds(61);
  CHECK(held->refresh().error().code == rs::Errc::conflict);  // expired: no longer its own
  const GcReport r = f.collect();
  CHECK(r.recovered == 2);
  CHECK(f.store.blob_size(long_name, rs::digest_of("long layer")).ok());
  CHECK(f.store.get_manifest(long_name, kept).ok());
  CHECK(r.blobs_deleted == 1);  // put back, judged again, deleted
  CHECK_FALSE(f.has_blob(stray));
  CHECK_FALSE(f.driver.stat(gc_paths::kTrash).ok());
}

TEST_CASE("storage lock: refreshed by its holder, released only by it") {
  MemoryDriver driver;
  Time now = Time(hours(1000));
  auto clock = [&] { return now; };
  auto a = StorageLock::acquire(driver, "/lock", "a", seconds(30), clock);
  REQUIRE(a.ok());
  CHECK(StorageLock::acquire(driver, "/lock", "b", seconds(30), clock).error().code == rs::Errc::conflict);
  now += seconds(20);
  REQUIRE(a->refresh().ok());
  now += seconds(20);  // 40 s after taking it, 20 s after the refresh: still held
  CHECK_FALSE(StorageLock::acquire(driver, "/lock", "b", seconds(30), clock).ok());
  now += seconds(11);
  auto b = StorageLock::acquire(driver, "/lock", "b", seconds(30), clock);
  REQUIRE(b.ok());
  CHECK_FALSE(a->refresh().ok());
  a->release();  // not its own any more: b's stays
  CHECK(StorageLock::holder(driver, "/lock")->owner == "b");
  b->release();
  CHECK_FALSE(StorageLock::holder(driver, "/lock").has_value());
}

TEST_CASE("retention: the newest stay, old ones go, globs always stay; a collection frees them") {
  Fixture f;
  std::vector<Digest> pushed;
  // ci/app: nine tags, one an hour, oldest first; "latest" and "v1" among the oldest.
  for (const char* tag : {"latest", "v1", "b1", "b2", "b3", "b4", "b5", "b6", "b7"}) {
    pushed.push_back(f.image("ci/app", tag, {std::string("layer of ") + tag}, tag));
    f.now += hours(1);
  }
  f.image("other", "old", {"other layer"}, "old");
  f.now += hours(100);
  std::vector<RetentionRule> rules{{"ci/**", 3, hours(24), {"latest", "v*"}}, {"none/**", 1, {}, {}}};
  auto drops = plan_retention(f.driver, rules, f.now);
  std::vector<std::string> tags;
  for (const auto& d : drops) tags.push_back(d.repository + ":" + d.tag);
  CHECK(tags == std::vector<std::string>{"ci/app:b1", "ci/app:b2", "ci/app:b3", "ci/app:b4"});

  SECTION("older_than spares the young ones beyond keep_last") {
    std::vector<RetentionRule> young{{"ci/**", 1, hours(104), {}}};
    auto d = plan_retention(f.driver, young, f.now);
    // b7 is newest (kept); of the others only those pushed more than 104 h ago go (b4 was
    // pushed exactly 104 h ago); sorted by name.
    std::vector<std::string> t;
    for (const auto& x : d) t.push_back(x.tag);
    CHECK(t == std::vector<std::string>{"b1", "b2", "b3", "latest", "v1"});
  }
  SECTION("a tag set again after the plan stays") {
    REQUIRE(f.store.tag("ci/app", "b1", pushed[2]).ok());
    std::vector<rs::Error> errors;
    CHECK(apply_retention(f.driver, drops, errors) == 3);
    CHECK(f.store.resolve_tag("ci/app", "b1").ok());
    CHECK(errors.empty());
  }
  SECTION("inside a collection: dropped, then freed with --delete-untagged") {
    GcOptions o = f.options(true);
    o.retention = rules;
    o.dry_run = true;
    auto dry = collect_garbage(f.driver, o);
    REQUIRE(dry.ok());
    CHECK(dry->retention.size() == 4);
    CHECK(f.store.resolve_tag("ci/app", "b1").ok());  // a dry run drops nothing
    o.dry_run = false;
    auto r = collect_garbage(f.driver, o);
    REQUIRE(r.ok());
    CHECK(r->tags_dropped == 4);
    CHECK_FALSE(f.store.resolve_tag("ci/app", "b1").ok());
    CHECK_FALSE(f.has_blob("layer of b1"));
    CHECK(f.has_blob("layer of latest"));
    CHECK(f.has_blob("layer of b5"));
    CHECK(f.store.resolve_tag("other", "old").ok());
  }
}
