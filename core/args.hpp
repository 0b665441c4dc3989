// A small argv parser shared by the subcommands: flags, options with values, positionals.
#pragma once

#include "core/result.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rs {

struct ArgSpec {
  std::set<std::string> flags;    // e.g. "--check", "-v"; may repeat
  std::set<std::string> options;  // take a value: "--config FILE" or "--config=FILE"
};

struct Args {
  std::map<std::string, int> flags;                         // flag -> count
  std::map<std::string, std::string> options;               // last value wins
  std::map<std::string, std::vector<std::string>> repeated;  // every value, in order
  std::vector<std::string> positionals;
  std::vector<std::string> rest;                            // after "--"

  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  int count(const std::string& flag) const {
    auto it = flags.find(flag);
    return it == flags.end() ? 0 : it->second;
  }
  std::vector<std::string> get_all(const std::string& option) const {
    auto it = repeated.find(option);
    return it == repeated.end() ? std::vector<std::string>{} : it->second;
  }
  std::optional<std::string> get(const std::string& option) const {
    auto it = options.find(option);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
};

// Unknown options and missing values are errors naming the option.
Result<Args> parse_args(const std::vector<std::string>& argv, const ArgSpec& spec);

// Parses a positive integer option value, naming the option on error.
Result<int> parse_positive_int(const std::string& option, const std::string& text);

}  // namespace rs
