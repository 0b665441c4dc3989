#include "agent/run/file_diff.hpp"

#include <sstream>
#include <vector>

namespace rs::agent {
namespace {

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

std::string render_file_diff(const FileChange& change) {
  std::string out = "--- " + change.path + (change.before ? "" : " (absent)") + "\n+++ " + change.path + "\n";
  if (change.binary) {
    out += change.before ? "  binary differs: replaced by this run's binary\n" : "  binary: copied from this run's binary\n";
    return out;
  }
  // Line diff by longest common subsequence; files here are small.
  auto a = split_lines(change.before.value_or(""));
  auto b = split_lines(change.after);
  if (a.size() * b.size() > 4'000'000) return out + "  (too large to show)\n";
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;)
    for (std::size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += " " + a[i] + "\n";
      ++i;
      ++j;
    } else if (j < b.size() && (i == a.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out += "+" + b[j++] + "\n";
    } else {
      out += "-" + a[i++] + "\n";
    }
  }
  return out;
}

}  // namespace rs::agent
