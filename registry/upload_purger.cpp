#include "registry/upload_purger.hpp"

#include "core/log.hpp"

namespace rs::registry {

UploadPurger::UploadPurger(Store& store, UploadPurgingOptions options, Observer on_pass)
    : store_(store), options_(options), on_pass_(std::move(on_pass)) {
  if (options_.enabled) thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

UploadPurger::~UploadPurger() { stop(); }  // (the jthread joins)

void UploadPurger::stop() {
  thread_.request_stop();  // wakes the wait below through the stop token
}

void UploadPurger::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const auto older_than = std::chrono::system_clock::now() - options_.age;
    PurgeReport report = store_.purge_uploads(older_than, options_.dry_run, stop);
    if (stop.stop_requested()) return;  // (a pass cut short says nothing)
    if (on_pass_) on_pass_(report, options_.dry_run);
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop, options_.interval, [] { return false; });
  }
}

void UploadPurger::log_pass(const PurgeReport& report, bool dry_run) {
  static const auto log = rs::log::get("registry");
  const char* verb = dry_run ? "would remove" : "removed";
  for (const auto& item : report.items)
    log->info("upload purge: {} {} '{}' ({} bytes)", verb, item.upload ? "upload" : "temp file", item.path, item.bytes);
  for (const auto& e : report.errors) log->warn("upload purge: {}", e.message);
  log->info("upload purge{}: {} {} uploads, {} temp files, {} bytes{}", dry_run ? " (dry run)" : "", verb,
            report.uploads, report.temp_files, report.bytes,
            report.errors.empty() ? "" : ", " + std::to_string(report.errors.size()) + " errors");
}

}  // namespace rs::registry
