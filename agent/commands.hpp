// The agent's subcommands, dispatched from main.
#pragma once

#include <string>
#include <vector>

namespace rs::agent {

int apply_command(const std::vector<std::string>& args);
int verify_command(const std::vector<std::string>& args);
// Hidden (kPrependStdin FILE CMD...): runs CMD with FILE's bytes, then this stdin, as its stdin.
int prepend_stdin_command(const std::vector<std::string>& args);

}  // namespace rs::agent
