// Debug lines of the "agent" logger (-vv) without spdlog's headers: spdlog and fmt are
// header-only here, and each file that includes them compiles both (~15 s).
#pragma once

#include <string>

namespace rs::agent {

void debug_log(const std::string& message);

}  // namespace rs::agent
