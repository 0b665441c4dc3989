#include "registry/storage_lock.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <random>

namespace rs::registry {
namespace {

using std::chrono::system_clock;

constexpr std::uint64_t kMaxLockBytes = 4096;

std::int64_t unix_seconds(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::optional<LockHolder> parse_holder(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("owner") || !j["owner"].is_string() || !j.contains("expires") ||
      !j["expires"].is_number_integer())
    return std::nullopt;
  return LockHolder{j["owner"].get<std::string>(), system_clock::time_point(std::chrono::seconds(j["expires"].get<std::int64_t>()))};
}

}  // namespace

std::string StorageLock::new_owner(const std::string& what) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device rd;
  char nonce[17];
  std::snprintf(nonce, sizeof nonce, "%08x%08x", rd(), rd());
  return what + "@" + host + "/" + std::to_string(::getpid()) + "/" + nonce;
}

StorageLock::StorageLock(StorageDriver& driver, std::string path, std::string owner, std::chrono::seconds ttl,
                         Clock clock)
    : driver_(&driver), path_(std::move(path)), owner_(std::move(owner)), ttl_(ttl), clock_(std::move(clock)) {}

StorageLock::StorageLock(StorageLock&& other) noexcept
    : driver_(other.driver_),
      path_(std::move(other.path_)),
      owner_(std::move(other.owner_)),
      ttl_(other.ttl_),
      clock_(std::move(other.clock_)),
      acquired_(other.acquired_),
      refreshed_(other.refreshed_),
      held_(std::exchange(other.held_, false)) {}

StorageLock::~StorageLock() { release(); }

std::string StorageLock::content(system_clock::time_point now) const {
  return nlohmann::json{{"owner", owner_}, {"expires", unix_seconds(now + ttl_)}, {"acquired", unix_seconds(acquired_)}}
      .dump();
}

std::optional<LockHolder> StorageLock::holder(StorageDriver& driver, const std::string& path) {
  auto text = driver.get_content(path, kMaxLockBytes);
  if (!text) return std::nullopt;
  auto h = parse_holder(*text);
  if (!h) return LockHolder{"(unreadable lock)", system_clock::time_point{}};
  return h;
}

Result<StorageLock> StorageLock::acquire(StorageDriver& driver, std::string path, std::string owner,
                                         std::chrono::seconds ttl, Clock clock) {
  if (!clock) clock = [] { return system_clock::now(); };
  StorageLock lock(driver, std::move(path), std::move(owner), ttl, clock);
  lock.acquired_ = lock.refreshed_ = clock();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto created = driver.create_exclusive(lock.path_, lock.content(lock.acquired_));
    if (created) {
      lock.held_ = true;
      return lock;
    }
    if (created.error().code != Errc::already_exists) return created.error().with_context("lock '" + lock.path_ + "'");
    auto text = driver.get_content(lock.path_, kMaxLockBytes);
    if (!text) continue;  // released meanwhile: try again
    auto held = parse_holder(*text);
    if (held && held->expires > clock()) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(held->expires - clock()).count();
      return make_error(Errc::conflict, "storage locked by " + held->owner + " for " + std::to_string(left) + " s more");
    }
    // Expired (or unreadable): the holder is gone. Set it aside under a name of our own; only
    // one taker's move finds it. If what was moved is not what was judged expired (taken
    // over and renewed meanwhile), it goes back.
    const std::string aside = lock.path_ + ".stale-" + lock.owner_.substr(lock.owner_.rfind('/') + 1);
    if (!driver.move(lock.path_, aside)) continue;
    auto moved = driver.get_content(aside, kMaxLockBytes);
    if (moved && *moved != *text) {
      (void)driver.create_exclusive(lock.path_, *moved);
      (void)driver.remove(aside);
      return make_error(Errc::conflict, "storage lock was taken over by another process just now");
    }
    (void)driver.remove(aside);
  }
  return make_error(Errc::conflict, "storage lock '" + lock.path_ + "' is changing hands: try again");
}

Result<void> StorageLock::refresh() {
  if (!held_) return make_error(Errc::conflict, "storage lock not held");
  const auto now = clock_();
  auto text = driver_->get_content(path_, kMaxLockBytes);
  auto held = text ? parse_holder(*text) : std::nullopt;
  // Past our own expiry another owner may take it over any moment: it is no longer ours.
  if (!held || held->owner != owner_ || held->expires <= now) {
    held_ = false;
    return make_error(Errc::conflict, "storage lock lost (" + (held ? "now held by " + held->owner : "gone") + ")");
  }
  if (auto r = driver_->put_content(path_, content(now)); !r) return r.error().with_context("refresh lock");
  refreshed_ = now;
  return ok();
}

Result<void> StorageLock::refresh_if_due() {
  if (held_ && clock_() - refreshed_ < ttl_ / 3) return ok();
  return refresh();
}

void StorageLock::release() {
  if (!held_) return;
  held_ = false;
  auto text = driver_->get_content(path_, kMaxLockBytes);
  auto held = text ? parse_holder(*text) : std::nullopt;
  if (held && held->owner == owner_) (void)driver_->remove(path_);
}

}  // namespace rs::registry
