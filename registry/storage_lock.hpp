// A lock held in the storage itself, so that processes sharing one root (several servers, a
// command-line run) coordinate without sharing memory: one file, created only if absent,
// holding its owner and when it expires. The holder refreshes it well before then; a
// crashed holder's lock is taken over once it has expired.
//
//   /docker/registry/v2/_gc/lock   {"owner": "...", "expires": <unix s>, "acquired": <unix s>}
//
// A registry:2 sharing the root ignores _gc (it walks blobs/ and repositories/ only).
#pragma once

#include "core/result.hpp"
#include "registry/storage_driver.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace rs::registry {

struct LockHolder {
  std::string owner;
  std::chrono::system_clock::time_point expires;
};

class StorageLock {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // Takes the lock at `path` for `ttl`. Errc::conflict when another owner holds it and it
  // has not expired (the message names the owner and the expiry). An expired lock (or one
  // that cannot be read) is taken over: the holder crashed.
  static Result<StorageLock> acquire(StorageDriver& driver, std::string path, std::string owner,
                                     std::chrono::seconds ttl, Clock clock = {});
  // Who holds the lock at `path` now, if anyone (expired holders too).
  static std::optional<LockHolder> holder(StorageDriver& driver, const std::string& path);

  StorageLock(StorageLock&& other) noexcept;
  StorageLock& operator=(StorageLock&&) = delete;
  ~StorageLock();

  // Extends the expiry by ttl from now. Errc::conflict when the lock is no longer ours (it
  // expired and another owner took it): stop at once.
  Result<void> refresh();
  // Extends it only when a third of the ttl has passed since the last refresh.
  Result<void> refresh_if_due();
  // Removes the lock if it is still ours.
  void release();
  const std::string& owner() const { return owner_; }

  // A new owner name: host, pid and a random part.
  static std::string new_owner(const std::string& what);

 private:
  StorageLock(StorageDriver& driver, std::string path, std::string owner, std::chrono::seconds ttl, Clock clock);
  std::string content(std::chrono::system_clock::time_point now) const;

  StorageDriver* driver_;
  std::string path_;
  std::string owner_;
  std::chrono::seconds ttl_;
  Clock clock_;
  std::chrono::system_clock::time_point acquired_, refreshed_;
  bool held_ = false;
};

}  // namespace rs::registry
