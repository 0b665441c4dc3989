// YAML input files (inventories, playbooks): a bounded read, the parse, and problems that
// name the file and line.
#pragma once

#include "agent/run/problem.hpp"
#include "core/result.hpp"

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>

namespace rs::agent {

inline constexpr std::size_t kMaxYamlFileBytes = 4 * 1024 * 1024;

// 1-based line of a node or mark; 0 when unknown.
int line_of(const YAML::Mark& mark);
int line_of(const YAML::Node& node);

// The text of `path`, a `what` ("inventory", "playbook") of at most kMaxYamlFileBytes.
// An unreadable or larger file adds a problem and returns the error.
Result<std::string> read_yaml_file(const std::string& path, const std::string& what, Problems& problems);

// The document in `text`; invalid YAML adds a problem at its line and returns nothing.
std::optional<YAML::Node> load_yaml(const std::string& text, const std::string& file, Problems& problems);

}  // namespace rs::agent
