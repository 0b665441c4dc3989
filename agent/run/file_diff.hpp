// A file change as people read it: "--- path\n+++ path\n-old\n+new", lines by LCS.
#pragma once

#include "agent/modules/action.hpp"

#include <string>

namespace rs::agent {

std::string render_file_diff(const FileChange& change);

}  // namespace rs::agent
