// Garbage collection inside `serve`: every `interval`, on a thread of its own, a collection
// (gc.hpp) of the store the server serves. Servers sharing a root take turns through the
// storage lock: a run that finds it held says so and waits for the next interval.
#pragma once

#include "registry/gc.hpp"
#include "registry/storage_driver.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace rs::registry {

struct GcScheduleOptions {
  bool enabled = false;
  std::chrono::seconds interval = std::chrono::hours(24);  // the first run one interval after start
  std::chrono::seconds grace = std::chrono::hours(1);
  bool delete_untagged = false;
  bool dry_run = false;  // logs what it would delete, deletes nothing
  std::chrono::seconds lock_ttl{60};
  std::vector<RetentionRule> retention;  // the config's retention section
};

class GcScheduler {
 public:
  // Called after each run with its report, or why it did not run (the default logs).
  using Observer = std::function<void(const Result<GcReport>&)>;

  GcScheduler(StorageDriver& driver, GcScheduleOptions options, std::uint64_t max_manifest_bytes,
              Observer on_run = log_run);
  // Stops and waits: a sweep in progress ends at its next item, its lock released.
  ~GcScheduler();
  GcScheduler(const GcScheduler&) = delete;
  GcScheduler& operator=(const GcScheduler&) = delete;

  void stop();

  static void log_run(const Result<GcReport>& report);

 private:
  void run(std::stop_token stop);

  StorageDriver& driver_;
  GcScheduleOptions options_;
  std::uint64_t max_manifest_bytes_;
  Observer on_run_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: started once the rest is ready
};

}  // namespace rs::registry
