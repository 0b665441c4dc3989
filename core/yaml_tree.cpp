#include "core/yaml_tree.hpp"

#include <map>
#include <utility>

namespace rs {
namespace {

int line_of(const YAML::Node& node) { return node.Mark().line >= 0 ? node.Mark().line + 1 : 0; }

std::string child_key(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

}  // namespace

std::vector<YamlProblem> check_yaml_tree(const YAML::Node& root, std::size_t max_nodes) {
  std::vector<YamlProblem> problems;
  // Depth first with an explicit stack: a deep document costs memory, not the call stack.
  std::vector<std::pair<YAML::Node, std::string>> stack{{root, ""}};
  std::size_t visited = 0;
  while (!stack.empty()) {
    auto [node, key] = std::move(stack.back());
    stack.pop_back();
    if (++visited > max_nodes) {
      problems.push_back({line_of(node), key,
                          "more than " + std::to_string(max_nodes) + " values (aliases that repeat large parts?)"});
      return problems;
    }
    if (node.IsSequence()) {
      // Pushed in reverse so that problems come out in document order.
      for (std::size_t i = node.size(); i-- > 0;) stack.emplace_back(node[i], key + "[" + std::to_string(i) + "]");
    } else if (node.IsMap()) {
      std::map<std::string, int> seen;  // key -> its first line
      std::vector<std::pair<YAML::Node, std::string>> children;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {
          problems.push_back({line_of(it->first), key, "a key must be a plain value, not a list or mapping"});
          continue;
        }
        const auto name = it->first.Scalar();
        if (auto [at, fresh] = seen.emplace(name, line_of(it->first)); !fresh) {
          problems.push_back({line_of(it->first), child_key(key, name),
                              "set twice in one mapping (first at line " + std::to_string(at->second) + ")"});
          continue;
        }
        children.emplace_back(it->second, child_key(key, name));
      }
      for (auto c = children.rbegin(); c != children.rend(); ++c) stack.push_back(std::move(*c));
    }
  }
  return problems;
}

}  // namespace rs
