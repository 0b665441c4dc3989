// Modules: each task is a CheckApply unit. check() reads only and says what differs;
// apply() writes only after a non-empty diff; the runner checks again afterwards.
#pragma once

#include "agent/host/host_context.hpp"

#include <yaml-cpp/yaml.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rs::agent {

struct FileChange {
  std::string path;
  std::optional<std::string> before;  // nullopt: the file does not exist yet
  std::string after;
  bool binary = false;  // shown by size and digest, not by lines
};

struct Diff {
  std::vector<FileChange> files;
  std::vector<std::string> changes;   // other changes, one line each ("restart 'docker.service'")
  std::vector<std::string> warnings;  // do not make the diff non-empty

  bool empty() const { return files.empty() && changes.empty(); }
};

class Action {
 public:
  virtual ~Action() = default;
  // Reads the host and returns what apply would change; empty when it is already right.
  virtual Result<Diff> check(HostContext& host) = 0;
  // Makes the changes `diff` (from check) describes.
  virtual Result<void> apply(HostContext& host, const Diff& diff) = 0;
  // One line for output, e.g. "net.ipv4.ip_forward = 1".
  virtual std::string summary() const = 0;
};

// Typed access to a task's (already templated) arguments; every problem is collected.
class Params {
 public:
  using ProblemList = std::vector<std::pair<std::string, std::string>>;  // key, message
  Params(const YAML::Node& node, ProblemList& problems);

  std::string string(const std::string& key, const std::optional<std::string>& fallback = std::nullopt);
  int integer(const std::string& key, int min, int max, std::optional<int> fallback = std::nullopt);
  bool boolean(const std::string& key, bool fallback);
  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     const std::optional<std::string>& fallback = std::nullopt);
  std::vector<std::string> strings(const std::string& key, bool required = true);
  // Reports the keys nobody asked for.
  void finish();
  void problem(const std::string& key, const std::string& message) { problems_.emplace_back(key, message); }
  bool ok() const { return problems_.size() == start_; }

 private:
  YAML::Node node_;
  ProblemList& problems_;
  std::size_t start_;
  std::vector<std::string> used_;
};

struct ModuleInfo {
  std::string name;
  // Builds the action from its arguments, or returns null after adding problems.
  std::unique_ptr<Action> (*make)(Params& params);
};

const std::vector<ModuleInfo>& modules();
const ModuleInfo* find_module(const std::string& name);

// "--- path\n+++ path\n-old\n+new" line diff for output.
std::string render_file_diff(const FileChange& change);

}  // namespace rs::agent
