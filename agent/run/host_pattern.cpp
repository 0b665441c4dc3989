#include "agent/run/host_pattern.hpp"

#include "agent/run/inventory.hpp"

#include <algorithm>
#include <optional>
#include <regex>
#include <string_view>
#include <unordered_map>

namespace rs::agent {
namespace {

using std::string_view;
constexpr auto npos = string_view::npos;

// Python's str.isspace() for one byte: what strip() and the \s of split_host_pattern drop.
bool is_space(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == ' ' || (u >= '\t' && u <= '\r') || (u >= 0x1c && u <= 0x1f);
}

string_view strip(string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// Python's \w under re.UNICODE, every byte of a multi-byte UTF-8 character taken as a letter.
bool is_word(char c) { return is_digit(c) || is_letter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }

bool digits(string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }
bool hex_digits(string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_hex); }

// Python's `$`: the end of the string, or a newline that ends it.
bool at_end(string_view s, std::size_t pos) { return pos == s.size() || (pos + 1 == s.size() && s[pos] == '\n'); }

// re.match(r'^X$', s) for an X that never matches a newline.
template <typename Exact>
bool whole(string_view s, Exact exact) {
  return exact(s) || (!s.empty() && s.back() == '\n' && exact(s.substr(0, s.size() - 1)));
}

// Splits the inside of a range's brackets, "a:b" or "a:b:step", into a and b.
bool range_bounds(string_view body, string_view& a, string_view& b) {
  auto colon = body.find(':');
  if (colon == npos) return false;
  a = body.substr(0, colon);
  b = body.substr(colon + 1);
  auto step = b.find(':');
  if (step == npos) return true;
  if (!digits(b.substr(step + 1))) return false;
  b = b.substr(0, step);
  return true;
}

// addresses.py's numeric_range, hexadecimal_range and alphanumeric_range, brackets removed.
bool numeric_range(string_view body) {
  string_view a, b;
  return range_bounds(body, a, b) && digits(a) && digits(b);
}
bool hex_range(string_view body) {
  string_view a, b;
  return range_bounds(body, a, b) && hex_digits(a) && hex_digits(b);
}
bool alphanumeric_range(string_view body) {
  string_view a, b;
  if (!range_bounds(body, a, b)) return false;
  bool letters = a.size() == 1 && b.size() == 1 && is_letter(a[0]) && is_letter(b[0]);
  return letters || (digits(a) && digits(b));
}

// addresses.py's 'ipv4': four dot-separated parts, each 0-255 (leading zeros allowed) or a
// numeric range.
bool ipv4_exact(string_view s) {
  auto part_ok = [](string_view p) {
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') return numeric_range(p.substr(1, p.size() - 2));
    if (!digits(p) || p.size() > 3) return false;
    if (p.size() < 3 || p[0] == '0' || p[0] == '1') return true;
    return p[0] == '2' && (p[1] <= '4' || (p[1] == '5' && p[2] <= '5'));
  };
  int parts = 0;
  for (std::size_t from = 0;; ++parts) {
    auto dot = s.find('.', from);
    if (!part_ok(s.substr(from, dot == npos ? npos : dot - from))) return false;
    if (dot == npos) return parts == 3;
    from = dot + 1;
  }
}

// addresses.py's 'hostname': dot-separated labels of word characters, '-' and alphanumeric
// ranges; a label starts with a word character or a range and ends with neither '-' nor '_'.
bool hostname_exact(string_view s) {
  std::size_t label = 0;
  for (std::size_t i = 0;;) {
    if (i == s.size() || s[i] == '.') {
      if (i == label || s[i - 1] == '-' || s[i - 1] == '_') return false;
      if (i == s.size()) return true;
      label = ++i;
    } else if (s[i] == '[') {
      auto close = s.find(']', i + 1);
      if (close == npos || !alphanumeric_range(s.substr(i + 1, close - i - 1))) return false;
      i = close + 1;
    } else if (is_word(s[i]) || (s[i] == '-' && i != label)) {
      ++i;
    } else {
      return false;
    }
  }
}

// addresses.py's 'ipv6', run as re.match runs it. Each alternative is a sequence of parts;
// a set of positions where the parts so far can end stands in for backtracking.
class Ipv6Matcher {
 public:
  using Ends = std::vector<std::size_t>;

  explicit Ipv6Matcher(string_view s) : s_(s) {}

  bool matches() const {
    const Ends start{0};
    auto h = [this](const Ends& e) { return component(e); };
    auto h_colon = [this](const Ends& e) { return literal(component(e), ":"); };
    auto colon_h = [this](const Ends& e) { return component(literal(e, ":")); };
    auto h_dot = [this](const Ends& e) { return literal(component(e), "."); };
    auto zero = [this](const Ends& e) { return literal(e, "0:"); };
    auto ffff = [this](const Ends& e) { return literal(e, "ffff:"); };
    auto dotted = [&](const Ends& e) { return component(repeat(e, h_dot, 3, 3)); };
    // The regex is `^A|B|...|M$`: every alternative but the last needs only to match a prefix.
    std::vector<Ends> prefixes = {
        component(repeat(start, h_colon, 7, 7)),              // 1:2:3:4:5:6:7:8
        literal(repeat(start, h_colon, 1, 6), ":"),           // a::, a:b::
        repeat(literal(start, ":"), colon_h, 1, 6),           // ::a
        literal(repeat(start, h, 0, 1), "::"),                // a::, ::
        dotted(repeat(start, zero, 6, 6)),                    // 0:0:0:0:0:0:1.2.3.4
        dotted(repeat(literal(start, "::"), ffff, 0, 1)),     // ::ffff:1.2.3.4
    };
    for (int left = 1; left <= 6; ++left)  // a::b with 2 <= parts <= 7
      prefixes.push_back(repeat(repeat(start, h_colon, left, left), colon_h, 1, 7 - left));
    for (const auto& ends : prefixes)
      if (!ends.empty()) return true;
    auto last = dotted(literal(repeat(start, zero, 5, 5), "ffff:"));  // 0:0:0:0:0:ffff:1.2.3.4
    return std::any_of(last.begin(), last.end(), [this](std::size_t p) { return at_end(s_, p); });
  }

 private:
  static Ends unique(Ends e) {
    std::sort(e.begin(), e.end());
    e.erase(std::unique(e.begin(), e.end()), e.end());
    return e;
  }

  // One to four hex digits, or a hexadecimal range in brackets.
  Ends component(const Ends& from) const {
    Ends out;
    for (auto p : from) {
      if (p < s_.size() && s_[p] == '[') {
        auto close = s_.find(']', p + 1);
        if (close != npos && hex_range(s_.substr(p + 1, close - p - 1))) out.push_back(close + 1);
        continue;
      }
      for (std::size_t n = 1; n <= 4 && p + n <= s_.size() && is_hex(s_[p + n - 1]); ++n) out.push_back(p + n);
    }
    return unique(std::move(out));
  }

  // `text`, case-insensitively (re.I).
  Ends literal(const Ends& from, string_view text) const {
    Ends out;
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (auto p : from) {
      if (p + text.size() > s_.size()) continue;
      if (std::equal(text.begin(), text.end(), s_.begin() + static_cast<std::ptrdiff_t>(p),
                     [&](char t, char c) { return t == lower(c); }))
        out.push_back(p + text.size());
    }
    return out;
  }

  // `step` repeated min to max times.
  template <typename Step>
  Ends repeat(Ends from, Step step, int min, int max) const {
    Ends out;
    for (int i = 0; i <= max && !from.empty(); ++i) {
      if (i >= min) out.insert(out.end(), from.begin(), from.end());
      if (i < max) from = step(from);
    }
    return unique(std::move(out));
  }

  string_view s_;
};

// The host before a ":port" suffix, as addresses.py's 'hostport' takes it: anything but
// ":[]" outside complete bracketed expressions.
std::optional<string_view> host_before_port(string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] != ':') {
    if (s[i] == ']') return std::nullopt;
    if (s[i] == '[') {
      auto close = s.find(']', i + 1);
      if (close == npos) return std::nullopt;
      i = close + 1;
    } else {
      ++i;
    }
  }
  if (i == s.size()) return std::nullopt;
  std::size_t end = i + 1;
  while (end < s.size() && is_digit(s[end])) ++end;
  if (end == i + 1 || !at_end(s, end)) return std::nullopt;
  return s.substr(0, i);
}

// Whether parse_address(s, allow_ranges=True) accepts s: a host name, IPv4 or IPv6 address,
// maybe with ranges, maybe with a port ("[host]:port" or "host:port").
bool parses_as_address(string_view s) {
  if (!s.empty() && s.front() == '[') {
    auto close = s.rfind(']');
    if (close != npos && close >= 2 && close + 1 < s.size() && s[close + 1] == ':') {
      std::size_t end = close + 2;
      while (end < s.size() && is_digit(s[end])) ++end;
      auto inner = s.substr(1, close - 1);
      if (end > close + 2 && at_end(s, end) && inner.find('\n') == npos) s = inner;
    }
  }
  if (auto host = host_before_port(s)) s = *host;
  return whole(s, ipv4_exact) || Ipv6Matcher(s).matches() || whole(s, hostname_exact);
}

// split_host_pattern's re.findall: runs of anything but whitespace and ":[]", where a
// complete "[...]" counts as one character; what no run takes is dropped.
std::vector<string_view> colon_separated(string_view s) {
  std::vector<string_view> runs;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    while (i < s.size()) {
      if (s[i] == '[') {
        auto close = s.find(']', i + 1);
        if (close == npos) break;
        i = close + 1;
      } else if (s[i] == ':' || s[i] == ']' || is_space(s[i])) {
        break;
      } else {
        ++i;
      }
    }
    if (i > start)
      runs.push_back(s.substr(start, i - start));
    else
      ++i;
  }
  return runs;
}

// A term's subscript, as _split_subscript returns it.
struct Subscript {
  long long start = 0;
  std::optional<long long> end;  // none: the single host at `start`; -1: to the last host
};

// Python's int() of a digit string; past any inventory's size it saturates.
long long to_number(string_view s) {
  constexpr long long kHuge = 1'000'000'000'000'000;
  long long v = 0;
  for (char c : s) v = std::min(v * 10 + (c - '0'), kHuge);
  return v;
}

// PATTERN_WITH_SUBSCRIPT: `^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`; a regex term
// has none (its brackets are the regex's).
std::pair<string_view, std::optional<Subscript>> split_subscript(string_view term) {
  if (term.empty() || term.front() == '~' || term.back() != ']') return {term, std::nullopt};
  auto open = term.rfind('[');
  if (open == npos || open == 0 || term.substr(0, open).find('\n') != npos) return {term, std::nullopt};
  const string_view expr = term.substr(0, open);
  const string_view body = term.substr(open + 1, term.size() - open - 2);
  if (digits(body)) return {expr, Subscript{to_number(body), std::nullopt}};
  if (body.size() > 1 && body[0] == '-' && digits(body.substr(1))) return {expr, Subscript{-to_number(body.substr(1)), std::nullopt}};
  auto sep = body.find_first_of(":-");
  if (sep == npos || !digits(body.substr(0, sep))) return {term, std::nullopt};
  auto end = body.substr(sep + 1);
  if (!end.empty() && !digits(end)) return {term, std::nullopt};
  return {expr, Subscript{to_number(body.substr(0, sep)), end.empty() ? -1 : to_number(end)}};
}

// _apply_subscript; none where Python's list index raises IndexError.
std::optional<std::vector<std::size_t>> apply_subscript(std::vector<std::size_t> hosts,
                                                        const std::optional<Subscript>& subscript) {
  if (hosts.empty() || !subscript) return hosts;
  const auto n = static_cast<long long>(hosts.size());
  long long start = subscript->start;
  // `if end:` in Python: an end of 0 selects the single host at start, as "[x]" does.
  if (subscript->end && *subscript->end != 0) {
    long long last = *subscript->end == -1 ? n - 1 : *subscript->end;
    long long from = std::min(start, n), to = std::min(last + 1, n);
    if (to <= from) return std::vector<std::size_t>{};
    return std::vector<std::size_t>(hosts.begin() + from, hosts.begin() + to);
  }
  if (start < 0) start += n;
  if (start < 0 || start >= n) return std::nullopt;
  return std::vector<std::size_t>{hosts[static_cast<std::size_t>(start)]};
}

// The pattern as an error message quotes it: a long one is cut.
std::string shown(string_view pattern) {
  constexpr std::size_t kShown = 200;
  if (pattern.size() <= kShown) return std::string(pattern);
  return std::string(pattern.substr(0, kShown)) + "...";
}

// The inventory indexed once for every term of a pattern.
class Matcher {
 public:
  Matcher(const std::string& pattern, const HostPatternView& inventory) : pattern_(pattern), hosts_(inventory.hosts) {
    std::unordered_map<string_view, std::vector<std::size_t>> members;
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
      host_index_.emplace(hosts_[i].first, i);
      for (const auto& g : hosts_[i].second)
        if (g != "all") members[g].push_back(i);
    }
    // Ansible's InventoryData creates "all" and "ungrouped" before any other group.
    std::vector<std::size_t> everyone(hosts_.size());
    for (std::size_t i = 0; i < everyone.size(); ++i) everyone[i] = i;
    groups_.emplace_back("all", std::move(everyone));
    if (inventory.groups.count("ungrouped")) groups_.emplace_back("ungrouped", members["ungrouped"]);
    for (const auto& g : inventory.groups)
      if (g != "all" && g != "ungrouped") groups_.emplace_back(g, members[g]);
  }

  // _evaluate_patterns: the hosts selected, in the order the terms found them (Ansible's
  // "inventory" order for a play: `registry:all` is the registry hosts first), each once.
  Result<std::vector<std::string>> evaluate(const std::vector<std::string>& terms) const {
    std::vector<std::size_t> order;
    std::vector<char> selected(hosts_.size(), 0);
    auto add = [&](std::size_t i) {
      if (!selected[i]) order.push_back(i);
      selected[i] = 1;
    };
    auto keep_if = [&](auto&& keep) {
      std::erase_if(order, [&](std::size_t i) { return !keep(i); });
      std::fill(selected.begin(), selected.end(), 0);
      for (auto i : order) selected[i] = 1;
    };
    for (const auto& p : terms) {
      // Ansible takes a term that is a host's name as that host, before anything else.
      if (auto it = host_index_.find(p); it != host_index_.end()) {
        add(it->second);
        continue;
      }
      const char op = p[0] == '!' || p[0] == '&' ? p[0] : '+';
      const string_view term = op == '+' ? string_view(p) : string_view(p).substr(1);
      if (term.empty())
        return make_error(Errc::invalid_argument, "pattern '" + shown(pattern_) + "': '" + op + "' needs a host or group after it");
      auto hosts = match_term(term);
      if (!hosts) return hosts.error();
      if (op == '+') {
        for (auto i : *hosts) add(i);
      } else {
        std::vector<char> in(hosts_.size(), 0);
        for (auto i : *hosts) in[i] = 1;
        if (op == '!') keep_if([&](std::size_t i) { return !in[i]; });
        else keep_if([&](std::size_t i) { return in[i] != 0; });
      }
    }
    std::vector<std::string> out;
    out.reserve(order.size());
    for (auto i : order) out.push_back(hosts_[i].first);
    return out;
  }

 private:
  Error error(Errc code, const std::string& message) const {
    return make_error(code, "pattern '" + shown(pattern_) + "': " + message);
  }

  // _match_one_pattern for a term without its '!' or '&': the hosts of every group it
  // matches, then (unless it named a group plainly) every host it matches, repeats kept,
  // and the subscript taken from that list.
  Result<std::vector<std::size_t>> match_term(string_view term) const {
    const auto [expr_view, subscript] = split_subscript(term);
    const std::string expr(expr_view);
    const bool is_regex = expr[0] == '~';
    std::optional<std::regex> regex;
    if (is_regex) {
      if (expr.size() - 1 > kMaxHostPatternRegexLength)
        return error(Errc::invalid_argument, "regular expression '" + shown(expr) + "' is longer than " +
                                                 std::to_string(kMaxHostPatternRegexLength) + " characters");
      try {
        regex.emplace(expr.begin() + 1, expr.end(), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return error(Errc::invalid_argument, "invalid regular expression '" + expr + "': " + e.what());
      }
    }
    // fnmatch or re.match, as _match_list.
    auto matches = [&](const std::string& name) {
      return regex ? std::regex_search(name, *regex, std::regex_constants::match_continuous) : glob_match(expr, name);
    };

    std::vector<std::size_t> found;
    bool group_matched = false;
    try {
      for (const auto& [name, members] : groups_) {
        if (!matches(name)) continue;
        group_matched = true;
        found.insert(found.end(), members.begin(), members.end());
      }
      if (!group_matched || is_regex || expr.find_first_of(".?*[") != std::string::npos)
        for (std::size_t i = 0; i < hosts_.size(); ++i)
          if (matches(hosts_[i].first)) found.push_back(i);
    } catch (const std::regex_error& e) {
      return error(Errc::invalid_argument, "regular expression '" + expr + "': " + e.what());
    }

    // Ansible warns of a term that matches nothing; a plain name is a typo here.
    if (found.empty() && !group_matched && !is_regex && expr.find_first_of("*?") == std::string::npos) {
      std::string hint;
      if (expr.find("[:") != std::string::npos && expr.back() == ']')
        hint = " (a subscript needs its start: '[0:2]' is the first three hosts)";
      return error(Errc::not_found, "no host or group '" + shown(expr) + "'" + hint);
    }
    const std::size_t count = found.size();
    auto picked = apply_subscript(std::move(found), subscript);
    if (!picked)
      return error(Errc::not_found, "'" + shown(term) + "': index " + std::to_string(subscript->start) +
                                        " is out of range (" + std::to_string(count) + " hosts)");
    return std::move(*picked);
  }

  const std::string& pattern_;
  const PatternHosts& hosts_;
  std::unordered_map<string_view, std::size_t> host_index_;
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups_;  // in Ansible's order
};

}  // namespace

std::vector<std::string> split_host_pattern(const std::string& pattern) {
  const string_view s = pattern;
  std::vector<string_view> parts;
  if (s.find(',') != npos) {
    for (std::size_t from = 0;;) {
      auto comma = s.find(',', from);
      parts.push_back(s.substr(from, comma == npos ? npos : comma - from));
      if (comma == npos) break;
      from = comma + 1;
    }
  } else if (parses_as_address(s)) {
    // An IPv6 address or a host range keeps its colons.
    parts.push_back(s);
  } else {
    parts = colon_separated(s);
  }
  std::vector<std::string> terms;
  for (auto part : parts)
    if (auto t = strip(part); !t.empty()) terms.emplace_back(t);
  return terms;
}

Result<std::vector<std::string>> match_host_pattern(const std::string& pattern, const HostPatternView& inventory) {
  if (pattern.size() > kMaxHostPatternLength)
    return make_error(Errc::invalid_argument, "host pattern of " + std::to_string(pattern.size()) +
                                                  " characters is longer than " +
                                                  std::to_string(kMaxHostPatternLength));
  auto terms = split_host_pattern(pattern);
  if (terms.empty()) return make_error(Errc::invalid_argument, "pattern '" + shown(pattern) + "' names no host or group");
  // order_patterns: plain terms, then '&', then '!'; with no plain term, "all" comes first.
  auto excludes = std::stable_partition(terms.begin(), terms.end(), [](const std::string& t) { return t[0] != '!'; });
  std::stable_partition(terms.begin(), excludes, [](const std::string& t) { return t[0] != '&'; });
  if (terms[0][0] == '!' || terms[0][0] == '&') terms.insert(terms.begin(), "all");
  return Matcher(pattern, inventory).evaluate(terms);
}

}  // namespace rs::agent
