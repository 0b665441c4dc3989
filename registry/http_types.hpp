// HTTP requests and responses as the API layer sees them: no sockets, no Beast.
#pragma once

#include "registry/storage_driver.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rs::registry {

struct Header {
  std::string name;
  std::string value;
};

bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // raw request target, not decoded
  std::vector<Header> headers;
  std::string remote;  // the client's address (rate limits); empty in tests
  bool tls = false;    // came over TLS (https:// in the URLs a response names)

  // First header with that name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  // When set, the body is `file_length` bytes of `file` from `file_offset` (sendfile).
  std::unique_ptr<FileReader> file;
  std::uint64_t file_offset = 0;
  std::uint64_t file_length = 0;
  // For HEAD: the Content-Length a GET would have (no body is sent).
  std::uint64_t head_length = 0;
  bool head = false;

  void set(std::string name, std::string value) { headers.push_back({std::move(name), std::move(value)}); }
  std::string_view header(std::string_view name) const;
  std::uint64_t content_length() const {
    return head ? head_length : file ? file_length : body.size();
  }
};

}  // namespace rs::registry
