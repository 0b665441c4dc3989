// registry:2's upload purging (storage.maintenance.uploadpurging): what unfinished uploads
// and interrupted writes left in storage is removed once it is older than `age`, when the
// server starts and then every `interval`, on a thread of its own.
#pragma once

#include "registry/store.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace rs::registry {

struct UploadPurgingOptions {
  bool enabled = true;
  std::chrono::seconds age = std::chrono::hours(168);
  std::chrono::seconds interval = std::chrono::hours(24);
  bool dry_run = false;  // logs what it would remove, removes nothing
};

class UploadPurger {
 public:
  // Called after each pass (the default logs each item and a summary line).
  using Observer = std::function<void(const PurgeReport&, bool dry_run)>;

  // Starts the first pass at once (if enabled).
  UploadPurger(Store& store, UploadPurgingOptions options, Observer on_pass = log_pass);
  // Stops and waits for the thread: a pass in progress ends at its next entry.
  ~UploadPurger();
  UploadPurger(const UploadPurger&) = delete;
  UploadPurger& operator=(const UploadPurger&) = delete;

  // Asks the thread to stop, without waiting; thread-safe.
  void stop();

  // Logs a pass: every item (what a dry run would remove), the errors, one summary line.
  static void log_pass(const PurgeReport& report, bool dry_run);

 private:
  void run(std::stop_token stop);

  Store& store_;
  UploadPurgingOptions options_;
  Observer on_pass_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: started once the rest is ready
};

}  // namespace rs::registry
