// A validation problem found before anything is touched: file, line, key and what is wrong.
#pragma once

#include <string>
#include <vector>

namespace rs::agent {

struct Problem {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  std::string key;
  std::string message;

  // "inventory.yml:12: all.children.registry.hosts.host-a.ansible_port: not a port number"
  std::string str() const {
    std::string s = file;
    if (line > 0) {
      s += ':';
      s.append(std::to_string(line));
    }
    s += ": ";
    if (!key.empty()) s += key + ": ";
    return s + message;
  }
};

using Problems = std::vector<Problem>;

}  // namespace rs::agent
