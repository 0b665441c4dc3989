#include "agent/run/host_range.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rs::agent {
namespace {

// Ansible's alphabet for letter ranges: string.ascii_letters.
constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
// Bounds above this are refused (no inventory counts that far; the arithmetic stays exact).
constexpr std::uint64_t kMaxBound = 1'000'000'000'000'000'000ULL;

// One [begin:end:step] of a name.
struct Range {
  bool letters = false;
  std::uint64_t begin = 0, end = 0, step = 1;
  std::size_t width = 0;  // numbers zero-padded to this width (0: no padding)
  std::size_t max_chars = 0;
  std::uint64_t count() const { return (end - begin) / step + 1; }

  std::string at(std::uint64_t i) const {
    const std::uint64_t v = begin + i * step;
    if (letters) return std::string(1, kLetters[v]);
    std::string s = std::to_string(v);
    if (s.size() < width) s.insert(0, width - s.size(), '0');
    return s;
  }
};

std::optional<std::uint64_t> to_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v > kMaxBound / 10) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > kMaxBound) return std::nullopt;
  return v;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::optional<std::size_t> letter(std::string_view s) {
  if (s.size() != 1) return std::nullopt;
  auto i = kLetters.find(s[0]);
  if (i == std::string_view::npos) return std::nullopt;
  return i;
}

// The range between the brackets ("01:50:2"); an error message (without the name) or the range.
std::optional<std::string> parse_range(std::string_view text, Range& r) {
  if (text.empty()) return "empty range '[]'";
  std::vector<std::string_view> bounds;
  for (std::size_t start = 0;;) {
    auto colon = text.find(':', start);
    bounds.push_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  const std::string quoted = "'[" + std::string(text) + "]'";
  if (bounds.size() != 2 && bounds.size() != 3) return "range " + quoted + " is not [begin:end] or [begin:end:step]";
  std::string_view begin = bounds[0].empty() ? std::string_view("0") : bounds[0];
  std::string_view end = bounds[1];
  if (end.empty()) return "range " + quoted + " has no end";
  if (bounds.size() == 3) {
    auto step = to_number(bounds[2]);
    if (!step || *step == 0) return "range " + quoted + ": the step '" + std::string(bounds[2]) + "' is not a number from 1 up";
    r.step = *step;
  }

  auto lb = letter(begin), le = letter(end);
  if (lb && le) {
    if (*lb > *le) return "range " + quoted + " begins after its end";
    r.letters = true;
    r.begin = *lb;
    r.end = *le;
    r.max_chars = 1;
    return std::nullopt;
  }
  if ((lb && all_digits(end)) || (le && all_digits(begin)))
    return "range " + quoted + " mixes a letter and a number";
  for (auto bound : {begin, end}) {
    if (!all_digits(bound))
      return "range " + quoted + ": '" + std::string(bound) + "' is not a number or a single letter";
    if (!to_number(bound)) return "range " + quoted + ": '" + std::string(bound) + "' is too large";
  }
  // "01" sets the width of every name, as zfill does; the end must be written as wide.
  if (begin.size() > 1 && begin[0] == '0') {
    if (end.size() != begin.size())
      return "range " + quoted + ": begin '" + std::string(begin) + "' and end '" + std::string(end) +
             "' must have the same width";
    r.width = begin.size();
  }
  r.begin = *to_number(begin);
  r.end = *to_number(end);
  if (r.begin > r.end) return "range " + quoted + " begins after its end";
  r.max_chars = std::max(r.width, std::to_string(r.end).size());
  return std::nullopt;
}

}  // namespace

Result<std::vector<std::string>> expand_host_range(const std::string& name, std::size_t limit) {
  if (name.find('[') == std::string::npos) return std::vector<std::string>{name};
  auto fail = [&](const std::string& what) {
    return make_error(Errc::invalid_argument, "host range '" + name + "': " + what);
  };

  // literals[i] comes before ranges[i]; the last literal ends the name.
  std::vector<std::string> literals;
  std::vector<Range> ranges;
  std::size_t pos = 0;
  for (;;) {
    auto open = name.find('[', pos);
    auto close = name.find(']', pos);
    if (open == std::string::npos) {
      // A ']' after the last range is part of the name, as in Ansible.
      literals.push_back(name.substr(pos));
      break;
    }
    if (close == std::string::npos) return fail("'[' without a closing ']'");
    if (close < open) return fail("']' before '['");
    literals.push_back(name.substr(pos, open - pos));
    Range r;
    if (auto err = parse_range(std::string_view(name).substr(open + 1, close - open - 1), r)) return fail(*err);
    ranges.push_back(r);
    pos = close + 1;
  }

  std::uint64_t total = 1;
  std::size_t longest = 0;
  for (const auto& l : literals) longest += l.size();
  for (const auto& r : ranges) {
    const std::uint64_t n = r.count();
    if (n > limit || total > limit / n) return fail("more than " + std::to_string(limit) + " names");
    total *= n;
    longest += r.max_chars;
  }
  if (longest != 0 && total > kMaxExpandedHostBytes / longest)
    return fail("the names would take more than " + std::to_string(kMaxExpandedHostBytes / (1024 * 1024)) + " MiB");

  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(total));
  // An odometer, the first range turning slowest (Ansible expands the first range, then
  // each result's next one).
  std::vector<std::uint64_t> index(ranges.size(), 0);
  for (std::uint64_t k = 0; k < total; ++k) {
    std::string s = literals[0];
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      s += ranges[i].at(index[i]);
      s += literals[i + 1];
    }
    names.push_back(std::move(s));
    for (std::size_t i = ranges.size(); i-- > 0;) {
      if (++index[i] < ranges[i].count()) break;
      index[i] = 0;
    }
  }
  return names;
}

}  // namespace rs::agent
