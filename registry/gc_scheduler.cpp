#include "registry/gc_scheduler.hpp"

#include "core/log.hpp"
#include "registry/storage_lock.hpp"

namespace rs::registry {

GcScheduler::GcScheduler(StorageDriver& driver, GcScheduleOptions options, std::uint64_t max_manifest_bytes,
                         Observer on_run)
    : driver_(driver), options_(options), max_manifest_bytes_(max_manifest_bytes), on_run_(std::move(on_run)) {
  if (options_.enabled) thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

GcScheduler::~GcScheduler() { stop(); }  // (the jthread joins)

void GcScheduler::stop() { thread_.request_stop(); }

void GcScheduler::run(std::stop_token stop) {
  const std::string owner = StorageLock::new_owner("serve");
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, stop, options_.interval, [] { return false; });
    }
    if (stop.stop_requested()) return;
    GcOptions o;
    o.grace = options_.grace;
    o.delete_untagged = options_.delete_untagged;
    o.dry_run = options_.dry_run;
    o.max_manifest_bytes = max_manifest_bytes_;
    o.lock_ttl = options_.lock_ttl;
    o.owner = owner;
    o.stop = stop;
    o.retention = options_.retention;
    auto report = collect_garbage(driver_, o);
    if (stop.stop_requested()) return;  // (a run cut short says nothing)
    if (on_run_) on_run_(report);
  }
}

void GcScheduler::log_run(const Result<GcReport>& report) {
  static const auto log = rs::log::get("registry");
  if (!report) {
    if (report.error().code == Errc::conflict) log->info("gc: not now: {}", report.error().message);
    else log->warn("gc: {}", report.error().message);
    return;
  }
  for (const auto& d : report->retention)
    log->info("retention{}: {} tag {}:{} ({})", report->dry_run ? " (dry run)" : "",
              report->dry_run ? "would drop" : "drops", d.repository, d.tag, d.digest.str());
  if (report->dry_run) {
    for (const auto& g : report->plan.garbage) log->info("gc (dry run): would delete blob {} ({} bytes)", g.digest.str(), g.size);
    for (const auto& r : report->plan.revisions)
      log->info("gc (dry run): would delete manifest {}@{}", r.repository, r.digest.str());
  }
  for (const auto& e : report->errors) log->warn("gc: {}", e.message);
  log->info("{}", summarize(*report));
  if (!report->dry_run) {
    auto ms = [](std::chrono::system_clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    };
    log->info("gc: storage lock held by {} from {} to {} (unix ms)", report->owner, ms(report->locked_at),
              ms(report->released_at));
  }
}

}  // namespace rs::registry
