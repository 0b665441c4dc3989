// GET /v2/ against a registry: it must answer with the Docker-Distribution-API-Version
// header (200 or 401). Plain sockets, every step timed.
#pragma once

#include "core/result.hpp"

#include <chrono>
#include <string>

namespace rs::agent {

// Judges the head of an answer to GET /v2/ (status line and headers, CRLF or LF): the
// Docker-Distribution-API-Version header and status 200 or 401. Returns the status line;
// `what` prefixes the error ("GET http://host:port/v2/").
Result<std::string> check_v2_head(const std::string& head, const std::string& what);

// GET http://host:port/v2/, or https:// when `ca_pem` is not empty: the server's certificate
// must then chain to it and be valid for `host` (OpenSSL's verification, TLS 1.2 or later).
Result<void> probe_registry(const std::string& host, int port, const std::string& ca_pem = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace rs::agent
