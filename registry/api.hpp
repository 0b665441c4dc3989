// The v2 API: one function per endpoint, from a Request to a Response, on a Store.
// No sockets here; the server feeds request bodies to a BodySink in pieces.
#pragma once

#include "registry/http_types.hpp"
#include "registry/router.hpp"
#include "registry/store.hpp"

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

  Dispatch handle(const Request& request) const;

 private:
  Store& store_;
  ApiOptions options_;
};

}  // namespace rs::registry
