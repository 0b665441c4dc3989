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
class TlsContexts;

// Every limit a client meets on a connection. The defaults are the config's (config.hpp).
struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 5000;
  unsigned threads = 0;                     // I/O threads; 0: one per core
  unsigned blocking_threads = 4;            // disk and hashing work of requests that write
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds header_timeout{10};  // a request's line and headers, from its first byte
                                            // (from the accept for a connection's first request)
  std::chrono::seconds idle_timeout{60};    // waiting for the next request on a connection
  std::chrono::seconds io_timeout{60};      // any single read or write making no progress
  std::chrono::seconds buffered_body_timeout{60};  // a body held in memory (a manifest), whole
  std::chrono::seconds shutdown_grace{10};  // in-flight requests after SIGTERM
  std::size_t max_connections = 4096;       // when full, the longest-idle connection is closed
  std::size_t max_connections_per_client = 512;  // per client IP address
  bool access_log = true;
};

// Connections, and the files they may open, fitted under the process's open-file limit:
// the soft limit is raised to the hard one, and max_connections lowered (with a warning) if
// a connection's socket and one open file each would not fit beside a small reserve.
// Returns the soft limit now in force.
std::uint64_t fit_open_files(ServerOptions& options);

class Server {
 public:
  Server(const Api& api, ServerOptions options);
  ~Server();

  // Every connection speaks TLS with `tls`'s current context (it outlives the server);
  // with handle_signals, SIGHUP reloads it. Call before run().
  void use_tls(TlsContexts& tls);
  // Binds and listens; returns the port (useful with port 0).
  Result<std::uint16_t> listen();
  // Serves until stop() or SIGTERM/SIGINT (when handle_signals, which also takes SIGHUP:
  // TLS reload), then finishes in-flight requests within the grace period. `on_stopping` runs once when shutdown begins.
  void run(bool handle_signals, std::function<void()> on_stopping = {});
  // Thread-safe.
  void stop();

 private:
  friend class Session;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::registry
