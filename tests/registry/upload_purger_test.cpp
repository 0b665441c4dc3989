#include "registry/upload_purger.hpp"

#include "registry/memory_driver.hpp"
#include "registry/paths.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>

using namespace rs::registry;
using namespace std::chrono_literals;

TEST_CASE("the purger makes a pass at once and stops without waiting out its interval") {
  MemoryDriver driver;
  Store store(driver);
  auto old_id = *store.create_upload("app");
  auto new_id = *store.create_upload("app");
  REQUIRE(driver.put_content(paths::upload_started_at("app", old_id), "2020-01-01T00:00:00Z").ok());
  std::promise<PurgeReport> first;
  std::atomic<int> passes{0};
  const auto started = std::chrono::steady_clock::now();
  {
    UploadPurger purger(store, {.enabled = true, .age = 168h, .interval = 24h, .dry_run = false},
                        [&](const PurgeReport& report, bool dry_run) {
                          CHECK_FALSE(dry_run);
                          if (passes++ == 0) first.set_value(report);
                        });
    auto done = first.get_future();
    REQUIRE(done.wait_for(30s) == std::future_status::ready);
    CHECK(done.get().uploads == 1);
  }  // (stops here, a day before its next pass)
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK(passes == 1);
  CHECK_FALSE(driver.stat(paths::upload_dir("app", old_id)).ok());
  CHECK(driver.stat(paths::upload_dir("app", new_id)).ok());
}

TEST_CASE("a purger that is not enabled removes nothing, a dry run neither") {
  MemoryDriver driver;
  Store store(driver);
  auto id = *store.create_upload("app");
  REQUIRE(driver.put_content(paths::upload_started_at("app", id), "2020-01-01T00:00:00Z").ok());
  { UploadPurger off(store, {.enabled = false}, [](const PurgeReport&, bool) { FAIL("a pass ran"); }); }
  std::promise<PurgeReport> pass;
  {
    UploadPurger dry(store, {.dry_run = true}, [&](const PurgeReport& report, bool dry_run) {
      CHECK(dry_run);
      pass.set_value(report);
      UploadPurger::log_pass(report, dry_run);  // (what serve logs)
    });
    auto done = pass.get_future();
    REQUIRE(done.wait_for(30s) == std::future_status::ready);
    CHECK(done.get().uploads == 1);
  }
  CHECK(driver.stat(paths::upload_dir("app", id)).ok());
}
