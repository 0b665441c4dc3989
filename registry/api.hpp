// The v2 API: one function per endpoint, from a Request to a Response, on a Store.
// No sockets here; the server feeds request bodies to a BodySink in pieces.
#pragma once

#include "registry/gate.hpp"
#include "registry/http_types.hpp"
#include "registry/router.hpp"
#include "registry/store.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace rs::registry {

// The manifest size limit is the store's (StoreOptions::max_manifest_bytes).
struct ApiOptions {
  bool delete_enabled = true;
  std::size_t max_list_entries = 10000;  // catalog and tags pages without ?n=
  // Request bodies held whole in memory (manifests being received), all together.
  std::uint64_t max_buffered_body_bytes = 128 * 1024 * 1024;
};

// Bytes shared by every request: take() what you hold, give() it back. Thread-safe.
class MemoryBudget {
 public:
  explicit MemoryBudget(std::uint64_t limit) : limit_(limit) {}
  // False, taking nothing, when `bytes` more would pass the limit.
  bool take(std::uint64_t bytes);
  void give(std::uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  const std::uint64_t limit_;
  std::atomic<std::uint64_t> used_{0};
};

// Receives a request body as it arrives.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Consumes the next piece; a Response instead stops the request (the connection closes).
  virtual std::optional<Response> write(const char* data, std::size_t size) = 0;
  // Where the server may receive the next piece to save a copy (empty: its own buffer).
  virtual std::span<char> buffer() { return {}; }
  // The whole body has arrived.
  virtual Response finish() = 0;
  // The body is kept in memory until finish(): the server bounds how long it may take.
  virtual bool holds_body_in_memory() const { return false; }
};

// What the server does next: send `response`, or first feed the body to `sink` and send
// what sink->finish() returns.
struct Dispatch {
  Response response;
  std::unique_ptr<BodySink> sink;
};

// An OCI error response: {"errors":[{"code":..,"message":..,"detail":..}]}.
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view detail_json = "null");

class Api {
 public:
  Api(Store& store, ApiOptions options);

  // From now on every request passes `gate` (who calls, and may they), and /auth/token is
  // served when the gate issues tokens.
  void use_gate(const Gate& gate) { gate_ = &gate; }

  Dispatch handle(const Request& request) const;

  // Whether handle() may block on more than the disk: a bcrypt for credentials not seen
  // lately (tens of ms). The server's I/O threads hand such requests to a worker.
  bool auth_would_block(const Request& request) const { return gate_ && gate_->would_block(request); }

 private:
  Store& store_;
  ApiOptions options_;
  std::unique_ptr<MemoryBudget> buffered_;
  const Gate* gate_ = nullptr;
};

}  // namespace rs::registry
