// Typed access to a task's (already templated) arguments; every problem is collected.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rs::agent {

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
  // The argument as it is (a list of mappings, say), for the module to read; null when absent.
  YAML::Node node(const std::string& key);
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

}  // namespace rs::agent
