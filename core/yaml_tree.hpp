// Checks a loaded YAML document before anyone reads it: every mapping key a plain value,
// no key twice in one mapping, and a bounded number of nodes (aliases can make a small
// file a huge tree). yaml-cpp itself bounds nesting while parsing (DeepRecursion).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <vector>

namespace rs {

inline constexpr std::size_t kMaxYamlNodes = 100'000;

struct YamlProblem {
  int line = 0;     // 1-based; 0 when unknown
  std::string key;  // dotted path of the mapping holding it: "all.children.registry"
  std::string message;
};

// Empty when the document is fit to read; else what is wrong, each problem once (at most
// 100). Memory stays bounded by max_nodes whatever the keys' sizes.
std::vector<YamlProblem> check_yaml_tree(const YAML::Node& root, std::size_t max_nodes = kMaxYamlNodes);

}  // namespace rs
