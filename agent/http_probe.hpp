// GET /v2/ against a registry: it must answer with the Docker-Distribution-API-Version
// header (200 or 401). Plain sockets, every step timed.
#pragma once

#include "core/result.hpp"

#include <chrono>
#include <string>

namespace rs::agent {

Result<void> probe_registry(const std::string& host, int port,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace rs::agent
