// Files reached through a CommandRunner (over ssh): small fixed sh scripts with the paths
// as positional arguments, never pasted into the script.
#pragma once

#include "agent/host/command_runner.hpp"
#include "agent/host/files.hpp"

namespace rs::agent {

class CommandFiles : public Files {
 public:
  explicit CommandFiles(CommandRunner& commands) : commands_(commands) {}

  Result<std::optional<std::string>> read(const std::string& path) override;
  Result<void> write(const std::string& path, const std::string& content, unsigned mode) override;
  Result<void> overwrite(const std::string& path, const std::string& content) override;
  Result<void> remove(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Result<std::optional<std::string>> sha256(const std::string& path) override;

 private:
  Result<CommandResult> sh(const std::string& what, const std::string& script, std::vector<std::string> args,
                           const std::string& input = {});
  CommandRunner& commands_;
};

}  // namespace rs::agent
