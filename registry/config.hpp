// The server's configuration: YAML file, then command-line flags on top.
#pragma once

#include "core/result.hpp"
#include "registry/api.hpp"
#include "registry/server.hpp"
#include "registry/store.hpp"

#include <string>

namespace rs::registry {

struct Config {
  std::string root = "/var/lib/registry";
  std::string log_level = "info";
  ServerOptions server;
  ApiOptions api;
  StoreOptions store;
};

// Parses "ADDR:PORT" ("[::1]:5000" for IPv6) into the server options.
Result<void> set_listen(Config& config, const std::string& listen);

// Reads a YAML config file. Every problem is listed ("FILE:LINE: key 'x': ...") in one
// Errc::invalid_argument error.
//
//   listen: 0.0.0.0:5000
//   root: /var/lib/registry
//   delete: true                     # DELETE of blobs and manifests (default on)
//   threads: 0                       # 0 = one per core
//   log: {level: info, access: true}
//   limits: {max_manifest_bytes: 4194304, max_connections: 4096, idle_timeout_s: 60,
//            io_timeout_s: 60, shutdown_grace_s: 10, max_list_entries: 10000}
Result<Config> load_config(const std::string& path);

}  // namespace rs::registry
