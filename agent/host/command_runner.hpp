// Runs a command as an argv vector (never a shell string) with a timeout.
#pragma once

#include "core/process.hpp"
#include "core/result.hpp"
#include "core/shell_quote.hpp"  // shell_quote, shell_join: for messages and the remote shell

#include <chrono>
#include <string>
#include <vector>

namespace rs::agent {

// exit_code, out, err: one result type for every runner, local or remote.
using CommandResult = ProcessResult;

inline constexpr std::chrono::milliseconds kDefaultCommandTimeout{60000};

// The last non-empty line of a command's output (its own error message), "(no output)".
inline std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "(no output)";
  auto begin = text.find_last_of("\r\n", end);
  auto start = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(start, end - start + 1);
}

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv with `input` on stdin. A non-zero exit is a value in CommandResult; a program
  // that cannot start is Errc::not_found, one that outlives the timeout is killed and
  // reported as Errc::timeout.
  virtual Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& input = {},
                                    std::chrono::milliseconds timeout = kDefaultCommandTimeout) = 0;
};

}  // namespace rs::agent
