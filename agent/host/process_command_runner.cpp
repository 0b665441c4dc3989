#include "agent/host/process_command_runner.hpp"

#include "agent/host/files.hpp"
#include "core/process.hpp"

namespace rs::agent {

Result<CommandResult> ProcessCommandRunner::run(const std::vector<std::string>& argv, const std::string& input,
                                                std::chrono::milliseconds timeout) {
  RunOptions options;
  options.input = input;
  options.timeout = timeout;
  // Files are read through `cat` (CommandFiles): one byte over their limit shows it was passed.
  options.output_limit = kMaxFileBytes + 1;
  return run_process(argv, options);
}

}  // namespace rs::agent
