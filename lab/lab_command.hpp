// `registry-setup lab ...`: the command line over lab.hpp.
#pragma once

#include <string>
#include <vector>

namespace rs::lab {

// Exit codes: 0 ok, 1 usage or invalid input, 2 a step failed; `exec` and `run` return
// the command's own exit status.
int lab_command(const std::vector<std::string>& args);

}  // namespace rs::lab
