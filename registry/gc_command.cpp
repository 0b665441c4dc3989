#include "registry/gc_command.hpp"

#include "core/args.hpp"
#include "registry/config.hpp"
#include "registry/filesystem_driver.hpp"
#include "registry/gc.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>

namespace rs::registry {
namespace {

constexpr const char* kHelp =
    "usage: registry-setup gc (--root DIR | --config FILE) [--dry-run] [--delete-untagged]\n"
    "                         [--grace DURATION] [--lock-ttl DURATION] [--retention] [--json]\n"
    "\n"
    "Garbage collection of a registry's storage (registry:2's layout), safe while registries\n"
    "serve it. Keeps every manifest a tag reaches, every manifest revision (unless\n"
    "--delete-untagged), what indexes reach, and the referrers (signatures, SBOMs) of kept\n"
    "manifests; deletes every other blob, manifest revision and link older than the grace\n"
    "window, then the repositories left empty.\n"
    "\n"
    "  --root DIR           the storage root (as serve --root)\n"
    "  --config FILE        or a registry config: its root, limits and gc section\n"
    "  --dry-run            list what would go and the bytes it would free; change nothing\n"
    "  --delete-untagged    manifests no tag reaches go too (the children of a kept index stay)\n"
    "  --grace DURATION     anything younger is kept (default 1h; 0s when nothing is in flight)\n"
    "  --lock-ttl DURATION  the storage lock's expiry, refreshed while working (default 1m)\n"
    "  --retention          first drop the tags the config's retention rules drop (--config)\n"
    "  --json               one JSON document on stdout instead of lines\n"
    "\n"
    "Durations: 90s, 30m, 1h30m, or seconds.\n"
    "Exit codes: 0 done, 1 usage, 2 the storage could not be read or collected,\n"
    "3 another collection holds the storage lock (try again later).\n";

// "1h30m", "90s", "0", "120" (seconds), at most ten years.
Result<std::chrono::seconds> parse_duration(const std::string& option, const std::string& text) {
  const auto bad = [&] {
    return make_error(Errc::invalid_argument, option + ": expected a duration such as 90s, 30m or 1h30m, got '" +
                                                   text.substr(0, 40) + "'");
  };
  constexpr long long kMax = 87600LL * 3600;
  if (text.empty()) return bad();
  long long total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = pos;
    long long n = 0;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) n = std::min(n * 10 + (text[pos] - '0'), kMax + 1);
    if (pos == start) return bad();
    long long scale = 1;
    if (pos < text.size()) {
      const char unit = text[pos++];
      scale = unit == 'h' ? 3600 : unit == 'm' ? 60 : unit == 's' ? 1 : 0;
      if (scale == 0) return bad();
    } else if (start != 0) {
      return bad();  // "1h30": the last number needs its unit
    }
    total = std::min(total + n * scale, kMax + 1);
  }
  if (total > kMax) return make_error(Errc::invalid_argument, option + ": at most 87600h");
  return std::chrono::seconds(total);
}

nlohmann::json to_json(const GcReport& r) {
  const GcPlan& p = r.plan;
  nlohmann::json j;
  j["dry_run"] = r.dry_run;
  j["repositories"] = p.repositories;
  j["manifests_kept"] = p.manifests_kept;
  j["blobs"] = p.blobs_total;
  j["kept_in_grace"] = {{"blobs", p.blobs_young}, {"manifests", p.revisions_young}};
  j["garbage_bytes"] = p.garbage_bytes;
  j["garbage"] = nlohmann::json::array();
  for (const auto& g : p.garbage) j["garbage"].push_back({{"digest", g.digest.str()}, {"size", g.size}});
  j["revisions"] = nlohmann::json::array();
  for (const auto& v : p.revisions) j["revisions"].push_back({{"repository", v.repository}, {"digest", v.digest.str()}});
  j["links"] = nlohmann::json::array();
  for (const auto& l : p.links) j["links"].push_back(l.path);
  j["problems"] = p.problems;
  j["retention"] = nlohmann::json::array();
  for (const auto& d : r.retention) j["retention"].push_back({{"repository", d.repository}, {"tag", d.tag}, {"digest", d.digest.str()}});
  if (!r.dry_run) j["tags_dropped"] = r.tags_dropped;
  if (!r.dry_run) {
    j["deleted"] = {{"blobs", r.blobs_deleted},
                    {"bytes", r.bytes_freed},
                    {"revisions", r.revisions_deleted},
                    {"links", r.links_deleted}};
    auto ms = [](std::chrono::system_clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    };
    j["lock"] = {{"owner", r.owner}, {"taken_unix_ms", ms(r.locked_at)}, {"released_unix_ms", ms(r.released_at)}};
    j["revived"] = r.revived;
    j["recovered"] = r.recovered;
  }
  j["errors"] = nlohmann::json::array();
  for (const auto& e : r.errors) j["errors"].push_back(e.message);
  j["took_ms"] = r.took.count();
  return j;
}

}  // namespace

int gc_command(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, {{"-h", "--help", "--dry-run", "--delete-untagged", "--json", "--retention"},
                                {"--root", "--config", "--grace", "--lock-ttl"}});
  if (!args) {
    std::fprintf(stderr, "registry-setup gc: %s\n%s", args.error().message.c_str(), kHelp);
    return 1;
  }
  if (args->has("-h") || args->has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args->positionals.empty() || args->get("--root").has_value() == args->get("--config").has_value()) {
    std::fprintf(stderr, "registry-setup gc: give exactly one of --root DIR and --config FILE\n%s", kHelp);
    return 1;
  }
  GcOptions options;
  std::string root;
  if (auto r = args->get("--root")) {
    root = *r;
  } else {
    auto config = load_config(*args->get("--config"));
    if (!config) {
      std::fprintf(stderr, "registry-setup gc: %s\n", config.error().message.c_str());
      return 2;
    }
    root = config->root;
    options.max_manifest_bytes = config->store.max_manifest_bytes;
    options.grace = config->gc.grace;
    options.delete_untagged = config->gc.delete_untagged;
    options.lock_ttl = config->gc.lock_ttl;
    if (args->has("--retention")) options.retention = config->gc.retention;
  }
  if (args->has("--retention") && args->get("--root")) {
    std::fprintf(stderr, "registry-setup gc: --retention applies the rules of a config: give --config\n");
    return 1;
  }
  options.dry_run = args->has("--dry-run");
  if (args->has("--delete-untagged")) options.delete_untagged = true;
  for (auto [flag, out] : {std::pair{"--grace", &options.grace}, std::pair{"--lock-ttl", &options.lock_ttl}})
    if (auto text = args->get(flag)) {
      auto d = parse_duration(flag, *text);
      if (!d) {
        std::fprintf(stderr, "registry-setup gc: %s\n", d.error().message.c_str());
        return 1;
      }
      *out = *d;
    }
  if (options.lock_ttl < std::chrono::seconds(1)) {
    std::fprintf(stderr, "registry-setup gc: --lock-ttl: at least 1s\n");
    return 1;
  }
  if (::access((root + "/docker/registry/v2").c_str(), R_OK | X_OK) != 0 && ::access(root.c_str(), R_OK | X_OK) != 0) {
    std::fprintf(stderr, "registry-setup gc: cannot read the storage root '%s'\n", root.c_str());
    return 2;
  }
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty)
    options.progress = [](const GcProgress& p) {
      std::fprintf(stderr, "\r\033[Kgc: %s: %llu repositories, %llu manifests kept, %llu blobs looked at", p.phase,
                   static_cast<unsigned long long>(p.repositories), static_cast<unsigned long long>(p.manifests),
                   static_cast<unsigned long long>(p.blobs));
      if (std::string_view(p.phase) == "sweep")
        std::fprintf(stderr, ", %llu deleted (%llu bytes)", static_cast<unsigned long long>(p.swept),
                     static_cast<unsigned long long>(p.bytes));
    };
  FilesystemDriver driver(root);
  auto report = collect_garbage(driver, options);
  if (tty) std::fputs("\r\033[K", stderr);
  if (!report) {
    std::fprintf(stderr, "registry-setup gc: %s\n", report.error().message.c_str());
    return report.error().message.rfind("storage lock", 0) == 0 ? 3 : 2;
  }
  if (args->has("--json")) {
    std::printf("%s\n", to_json(*report).dump(2).c_str());
    return report->errors.empty() ? 0 : 2;
  }
  for (const auto& p : report->plan.problems) std::fprintf(stderr, "gc: cannot read: %s\n", p.c_str());
  for (const auto& e : report->errors) std::fprintf(stderr, "gc: %s\n", e.message.c_str());
  for (const auto& d : report->retention)
    std::printf("%s tag %s:%s (%s)\n", report->dry_run ? "would drop" : "dropped", d.repository.c_str(), d.tag.c_str(),
                d.digest.str().c_str());
  if (report->dry_run) {
    for (const auto& r : report->plan.revisions)
      std::printf("would delete manifest %s@%s\n", r.repository.c_str(), r.digest.str().c_str());
    for (const auto& g : report->plan.garbage)
      std::printf("would delete blob %s (%llu bytes)\n", g.digest.str().c_str(), static_cast<unsigned long long>(g.size));
    for (const auto& l : report->plan.links) std::printf("would delete link %s\n", l.path.c_str());
  }
  std::printf("%s\n", summarize(*report).c_str());
  return report->errors.empty() ? 0 : 2;
}

}  // namespace rs::registry
