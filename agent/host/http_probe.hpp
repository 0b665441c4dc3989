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

Result<void> probe_registry(const std::string& host, int port,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace rs::agent
