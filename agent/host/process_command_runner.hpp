// CommandRunner for this machine: the program started directly (core/process.hpp).
#pragma once

#include "agent/host/command_runner.hpp"

namespace rs::agent {

class ProcessCommandRunner : public CommandRunner {
 public:
  Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input,
                            std::chrono::milliseconds timeout) override;
};

}  // namespace rs::agent
