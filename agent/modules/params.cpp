#include "agent/modules/params.hpp"

#include <algorithm>
#include <charconv>

namespace rs::agent {

Params::Params(const YAML::Node& node, ProblemList& problems) : node_(node), problems_(problems), start_(problems.size()) {
  if (node_ && !node_.IsNull() && !node_.IsMap()) problem("", "arguments must be a mapping");
}

std::string Params::string(const std::string& key, const std::optional<std::string>& fallback) {
  used_.push_back(key);
  YAML::Node v = node_.IsMap() ? node_[key] : YAML::Node();
  if (!v || v.IsNull()) {
    if (!fallback) problem(key, "required");
    return fallback.value_or("");
  }
  if (!v.IsScalar()) {
    problem(key, "must be a single value");
    return {};
  }
  return v.as<std::string>();
}

int Params::integer(const std::string& key, int min, int max, std::optional<int> fallback) {
  auto s = string(key, fallback ? std::optional<std::string>(std::to_string(*fallback)) : std::nullopt);
  if (s.empty()) return fallback.value_or(0);
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) {
    problem(key, "'" + s + "' is not a number from " + std::to_string(min) + " to " + std::to_string(max));
    return fallback.value_or(min);
  }
  return v;
}

bool Params::boolean(const std::string& key, bool fallback) {
  auto s = string(key, fallback ? "true" : "false");
  if (s == "true" || s == "yes" || s == "True") return true;
  if (s == "false" || s == "no" || s == "False") return false;
  problem(key, "'" + s + "' is not true or false");
  return fallback;
}

std::string Params::choice(const std::string& key, const std::vector<std::string>& allowed,
                           const std::optional<std::string>& fallback) {
  auto s = string(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end() && (fallback || !s.empty())) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    problem(key, "'" + s + "' is not one of " + list);
  }
  return s;
}

std::vector<std::string> Params::strings(const std::string& key, bool required) {
  used_.push_back(key);
  std::vector<std::string> out;
  YAML::Node v = node_.IsMap() ? node_[key] : YAML::Node();
  if (!v || v.IsNull()) {
    if (required) problem(key, "required");
    return out;
  }
  if (v.IsScalar()) return {v.as<std::string>()};
  if (!v.IsSequence()) {
    problem(key, "must be a list of strings");
    return out;
  }
  for (const auto& item : v) {
    if (!item.IsScalar()) {
      problem(key, "must be a list of strings");
      return {};
    }
    out.push_back(item.as<std::string>());
  }
  return out;
}

YAML::Node Params::node(const std::string& key) {
  used_.push_back(key);
  YAML::Node v = node_.IsMap() ? node_[key] : YAML::Node();
  return v ? v : YAML::Node(YAML::NodeType::Null);
}

void Params::finish() {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    auto k = it->first.as<std::string>();
    if (std::find(used_.begin(), used_.end(), k) == used_.end()) problem(k, "unknown argument");
  }
}

}  // namespace rs::agent
