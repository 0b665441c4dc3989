#include "registry/storage_commands.hpp"

#include "core/args.hpp"
#include "registry/config.hpp"
#include "registry/filesystem_driver.hpp"
#include "registry/gc.hpp"
#include "registry/names.hpp"
#include "registry/paths.hpp"
#include "registry/store.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

namespace rs::registry {
namespace {

constexpr const char* kRmHelp =
    "usage: registry-setup rm (--root DIR | --config FILE) [--dry-run] NAME[:TAG|@DIGEST]...\n"
    "\n"
    "Removes from a registry's storage, also while servers serve it:\n"
    "  NAME           the repository: its tags, manifests, layer links and uploads (a nested\n"
    "                 repository NAME/... stays: name it too)\n"
    "  NAME:TAG       the tag (its manifest stays, untagged: gc --delete-untagged frees it)\n"
    "  NAME@DIGEST    the manifest and every tag pointing at it (as DELETE does)\n"
    "Blobs are freed by the next `registry-setup gc`.\n"
    "\n"
    "  --dry-run      say what would go; change nothing\n"
    "\n"
    "Exit codes: 0 done, 1 usage, 2 something named is not there or could not be removed.\n";

constexpr const char* kDuHelp =
    "usage: registry-setup du (--root DIR | --config FILE) [--json] [--bytes]\n"
    "\n"
    "What a registry's storage holds, per repository: the bytes of blobs linked there and in no\n"
    "other repository (unique), those other repositories link too (shared), tags and\n"
    "manifests; then the blobs on disk and what a garbage collection would free now (blobs\n"
    "older than its grace window, 1h, or the config's gc.grace), with and without\n"
    "--delete-untagged.\n"
    "\n"
    "  --json         one JSON document instead of a table\n"
    "  --bytes        sizes in bytes instead of KiB, MiB, GiB\n"
    "\n"
    "Exit codes: 0 done, 1 usage, 2 the storage could not be read.\n";

struct RootArgs {
  std::string root;
  std::chrono::seconds grace{3600};
  std::uint64_t max_manifest_bytes = 4 * 1024 * 1024;
};

// --root or --config: where the storage is; 0 when found, else the exit code.
int find_root(const char* command, const Args& args, const char* help, RootArgs& out) {
  if (args.get("--root").has_value() == args.get("--config").has_value()) {
    std::fprintf(stderr, "registry-setup %s: give exactly one of --root DIR and --config FILE\n%s", command, help);
    return 1;
  }
  if (auto r = args.get("--root")) {
    out.root = *r;
  } else {
    auto config = load_config(*args.get("--config"));
    if (!config) {
      std::fprintf(stderr, "registry-setup %s: %s\n", command, config.error().message.c_str());
      return 2;
    }
    out.root = config->root;
    out.grace = config->gc.grace;
    out.max_manifest_bytes = config->store.max_manifest_bytes;
  }
  if (::access(out.root.c_str(), R_OK | X_OK) != 0) {
    std::fprintf(stderr, "registry-setup %s: cannot read the storage root '%s'\n", command, out.root.c_str());
    return 2;
  }
  return 0;
}

struct Target {
  std::string repository, tag;
  std::optional<Digest> digest;
};

Result<Target> parse_target(const std::string& text) {
  Target t;
  std::string name = text;
  if (auto at = text.find('@'); at != std::string::npos) {
    auto d = Digest::parse(text.substr(at + 1));
    if (!d) return make_error(Errc::invalid_argument, "'" + text + "': not a digest after '@'");
    t.digest = *d;
    name = text.substr(0, at);
  } else if (auto colon = text.rfind(':'); colon != std::string::npos && text.find('/', colon) == std::string::npos) {
    t.tag = text.substr(colon + 1);
    name = text.substr(0, colon);
    if (!valid_tag(t.tag)) return make_error(Errc::invalid_argument, "'" + text + "': not a valid tag");
  }
  if (!valid_repository_name(name)) return make_error(Errc::invalid_argument, "'" + text + "': not a repository name");
  t.repository = name;
  return t;
}

std::string human(std::uint64_t bytes, bool raw) {
  if (raw) return std::to_string(bytes);
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

int rm_command(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, {{"-h", "--help", "--dry-run"}, {"--root", "--config"}});
  if (!args) {
    std::fprintf(stderr, "registry-setup rm: %s\n%s", args.error().message.c_str(), kRmHelp);
    return 1;
  }
  if (args->has("-h") || args->has("--help")) {
    std::fputs(kRmHelp, stdout);
    return 0;
  }
  if (args->positionals.empty()) {
    std::fprintf(stderr, "registry-setup rm: name what to remove\n%s", kRmHelp);
    return 1;
  }
  // Every name is checked before anything goes.
  std::vector<Target> targets;
  for (const auto& p : args->positionals) {
    auto t = parse_target(p);
    if (!t) {
      std::fprintf(stderr, "registry-setup rm: %s\n", t.error().message.c_str());
      return 1;
    }
    targets.push_back(*t);
  }
  RootArgs where;
  if (int rc = find_root("rm", *args, kRmHelp, where)) return rc;
  FilesystemDriver driver(where.root);
  Store store(driver);
  const bool dry = args->has("--dry-run");
  const char* verb = dry ? "would remove" : "removed";
  int rc = 0;
  auto failed = [&](const std::string& what, const Error& e) {
    std::fprintf(stderr, "registry-setup rm: %s: %s\n", what.c_str(), e.message.c_str());
    rc = 2;
  };
  for (const auto& t : targets) {
    if (t.digest) {
      const std::string what = t.repository + "@" + t.digest->str();
      if (!store.has_manifest(t.repository, *t.digest)) {
        failed(what, make_error(Errc::not_found, "no such manifest"));
        continue;
      }
      if (!dry)
        if (auto r = store.delete_manifest(t.repository, *t.digest); !r) {
          failed(what, r.error());
          continue;
        }
      std::printf("%s manifest %s\n", verb, what.c_str());
    } else if (!t.tag.empty()) {
      const std::string what = t.repository + ":" + t.tag;
      if (!store.resolve_tag(t.repository, t.tag)) {
        failed(what, make_error(Errc::not_found, "no such tag"));
        continue;
      }
      if (!dry)
        if (auto r = store.untag(t.repository, t.tag); !r) {
          failed(what, r.error());
          continue;
        }
      std::printf("%s tag %s\n", verb, what.c_str());
    } else {
      const std::string dir = paths::repository(t.repository);
      bool found = false;
      for (const char* part : {"_manifests", "_layers", "_uploads", "_referrers"}) {
        if (!driver.stat(dir + "/" + part)) continue;
        found = true;
        if (!dry)
          if (auto r = driver.remove(dir + "/" + part); !r) failed(t.repository, r.error());
      }
      if (!found) {
        failed(t.repository, make_error(Errc::not_found, "no such repository"));
        continue;
      }
      if (!dry) (void)driver.remove_empty_dirs(dir);
      std::printf("%s repository %s\n", verb, t.repository.c_str());
    }
  }
  if (!dry && rc == 0) std::printf("the blobs nothing else references are freed by the next `registry-setup gc`\n");
  return rc;
}

int du_command(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, {{"-h", "--help", "--json", "--bytes"}, {"--root", "--config"}});
  if (!args) {
    std::fprintf(stderr, "registry-setup du: %s\n%s", args.error().message.c_str(), kDuHelp);
    return 1;
  }
  if (args->has("-h") || args->has("--help")) {
    std::fputs(kDuHelp, stdout);
    return 0;
  }
  if (!args->positionals.empty()) {
    std::fprintf(stderr, "registry-setup du: unexpected '%s'\n%s", args->positionals[0].c_str(), kDuHelp);
    return 1;
  }
  RootArgs where;
  if (int rc = find_root("du", *args, kDuHelp, where)) return rc;
  FilesystemDriver driver(where.root);
  Store store(driver);
  auto repositories = store.list_repositories();
  if (!repositories) {
    if (repositories.error().code != Errc::not_found) {
      std::fprintf(stderr, "registry-setup du: %s\n", repositories.error().message.c_str());
      return 2;
    }
    repositories = std::vector<std::string>{};
  }
  // Which repositories link each blob (as a layer or a manifest), and the blobs' sizes.
  std::unordered_map<std::string, std::uint64_t> sizes;
  std::unordered_map<std::string, std::vector<std::size_t>> linked_by;
  struct Row {
    std::string name;
    std::size_t tags = 0, manifests = 0;
    std::uint64_t unique = 0, shared = 0;
  };
  std::vector<Row> rows;
  auto size_of = [&](const Digest& d) -> std::optional<std::uint64_t> {
    auto [it, added] = sizes.try_emplace(d.str(), 0);
    if (added) {
      auto info = driver.stat(paths::blob_data(d));
      if (!info) {
        sizes.erase(it);
        return std::nullopt;
      }
      it->second = info->size;
    }
    return it->second;
  };
  for (const auto& repo : *repositories) {
    Row row{repo};
    if (auto tags = store.list_tags(repo)) row.tags = tags->size();
    std::set<std::string> blobs;
    for (const char* kind : {"/_layers/sha256", "/_manifests/revisions/sha256", "/_layers/sha512",
                             "/_manifests/revisions/sha512"}) {
      const std::string alg = std::string(kind).substr(std::string(kind).rfind('/') + 1);
      auto names = driver.list(paths::repository(repo) + kind);
      if (!names) continue;
      for (const auto& hex : *names) {
        auto d = Digest::parse(alg + ":" + hex);
        if (!d || !size_of(*d)) continue;
        if (std::string(kind).find("revisions") != std::string::npos) ++row.manifests;
        blobs.insert(d->str());
      }
    }
    for (const auto& b : blobs) linked_by[b].push_back(rows.size());
    rows.push_back(row);
  }
  for (const auto& [blob, repos] : linked_by)
    for (std::size_t i : repos) (repos.size() == 1 ? rows[i].unique : rows[i].shared) += sizes[blob];

  GcOptions gc;
  gc.dry_run = true;
  gc.grace = where.grace;
  gc.max_manifest_bytes = where.max_manifest_bytes;
  auto plain = plan_gc(driver, gc);
  gc.delete_untagged = true;
  auto untagged = plan_gc(driver, gc);
  if (!plain || !untagged) {
    std::fprintf(stderr, "registry-setup du: %s\n", (!plain ? plain : untagged).error().message.c_str());
    return 2;
  }
  std::uint64_t on_disk = 0;
  for (auto alg : {"sha256", "sha512"}) {
    const std::string dir = paths::kRoot + "/blobs/" + alg;
    auto prefixes = driver.list(dir);
    if (!prefixes) continue;
    for (const auto& prefix : *prefixes)
      if (auto names = driver.list(dir + "/" + prefix))
        for (const auto& hex : *names)
          if (auto info = driver.stat(dir + "/" + prefix + "/" + hex + "/data")) on_disk += info->size;
  }
  if (args->has("--json")) {
    nlohmann::json j;
    j["repositories"] = nlohmann::json::array();
    for (const auto& r : rows)
      j["repositories"].push_back(
          {{"name", r.name}, {"tags", r.tags}, {"manifests", r.manifests}, {"unique_bytes", r.unique}, {"shared_bytes", r.shared}});
    j["blob_bytes"] = on_disk;
    j["reclaimable_bytes"] = plain->garbage_bytes;
    j["reclaimable_bytes_delete_untagged"] = untagged->garbage_bytes;
    j["grace_seconds"] = where.grace.count();
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  const bool raw = args->has("--bytes");
  std::size_t width = 10;
  for (const auto& r : rows) width = std::max(width, r.name.size());
  std::printf("%-*s %12s %12s %6s %9s\n", static_cast<int>(width), "REPOSITORY", "UNIQUE", "SHARED", "TAGS", "MANIFESTS");
  for (const auto& r : rows)
    std::printf("%-*s %12s %12s %6zu %9zu\n", static_cast<int>(width), r.name.c_str(), human(r.unique, raw).c_str(),
                human(r.shared, raw).c_str(), r.tags, r.manifests);
  std::printf("blobs on disk: %s; reclaimable now by gc: %s, by gc --delete-untagged: %s (grace %llds)\n",
              human(on_disk, raw).c_str(), human(plain->garbage_bytes, raw).c_str(),
              human(untagged->garbage_bytes, raw).c_str(), static_cast<long long>(where.grace.count()));
  return 0;
}

}  // namespace rs::registry
