// The HTTP server: a listener accepting connections and a session per connection that
// reads a request, hands it to the Api, streams bodies in and files out (sendfile).
// Boost-free header: Beast and Asio stay in server.cpp.
#pragma once

#include "core/result.hpp"
#include "registry/api.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace rs::registry {

class Session;

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 5000;
  unsigned threads = 0;                                   // 0: one per core
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds idle_timeout{60};                 // between requests on a connection
  std::chrono::seconds io_timeout{60};                   // any single read or write making no progress
  std::chrono::seconds shutdown_grace{10};               // in-flight requests after SIGTERM
  std::size_t max_connections = 4096;
  bool access_log = true;
};

class Server {
 public:
  Server(const Api& api, ServerOptions options);
  ~Server();

  // Binds and listens; returns the port (useful with port 0).
  Result<std::uint16_t> listen();
  // Serves until stop() or SIGTERM/SIGINT (when handle_signals), then finishes in-flight
  // requests within the grace period. `on_stopping` runs once when shutdown begins.
  void run(bool handle_signals, std::function<void()> on_stopping = {});
  // Thread-safe.
  void stop();

 private:
  friend class Session;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::registry
