#include "core/yaml_tree.hpp"

#include <map>
#include <set>
#include <utility>

namespace rs {
namespace {

int line_of(const YAML::Node& node) { return node.Mark().line >= 0 ? node.Mark().line + 1 : 0; }

// Paths in messages stay short: a huge key or a deep document must not make every
// child's path a copy of a megabyte.
constexpr std::size_t kMaxKeyShown = 64, kMaxPathShown = 256;

std::string child_key(const std::string& parent, const std::string& name) {
  std::string shown = name.size() > kMaxKeyShown ? name.substr(0, kMaxKeyShown) + "..." : name;
  if (parent.size() > kMaxPathShown) return parent;
  return parent.empty() ? shown : parent + "." + shown;
}

constexpr std::size_t kMaxProblems = 100;

}  // namespace

std::vector<YamlProblem> check_yaml_tree(const YAML::Node& root, std::size_t max_nodes) {
  std::vector<YamlProblem> problems;
  // Depth first with an explicit stack: a deep document costs memory, not the call stack.
  std::vector<std::pair<YAML::Node, std::string>> stack{{root, ""}};
  std::set<std::string> reported;  // by line: an alias repeats its mapping's problems
  auto add = [&](YamlProblem p) {
    if (problems.size() < kMaxProblems && reported.insert(std::to_string(p.line) + ":" + p.message).second)
      problems.push_back(std::move(p));
  };
  // Counted when pushed: the stack never holds more than max_nodes entries.
  std::size_t seen = 1;
  auto too_many = [&](const YAML::Node& at, const std::string& key) {
    problems.push_back({line_of(at), key,
                        "more than " + std::to_string(max_nodes) + " values (aliases that repeat large parts?)"});
    return problems;
  };
  while (!stack.empty()) {
    auto [node, key] = std::move(stack.back());
    stack.pop_back();
    if ((node.IsSequence() || node.IsMap()) && (seen += node.size()) > max_nodes) return too_many(node, key);
    if (node.IsSequence()) {
      // Pushed in reverse so that problems come out in document order.
      std::vector<std::pair<YAML::Node, std::string>> children;
      std::size_t i = 0;
      for (const auto& item : node)
        children.emplace_back(item, key.size() > kMaxPathShown ? key : key + "[" + std::to_string(i++) + "]");
      for (auto c = children.rbegin(); c != children.rend(); ++c) stack.push_back(std::move(*c));
    } else if (node.IsMap()) {
      std::map<std::string, int> first_line;  // key -> where it was first set
      std::vector<std::pair<YAML::Node, std::string>> children;
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {
          add({line_of(it->first), key, "a key must be a plain value, not a list or mapping"});
          continue;
        }
        const auto name = it->first.Scalar();
        if (auto [at, fresh] = first_line.emplace(name, line_of(it->first)); !fresh) {
          add({line_of(it->first), child_key(key, name),
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
