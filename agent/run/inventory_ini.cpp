#include "agent/run/inventory_ini.hpp"

#include "agent/run/host_range.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rs::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// Python's \w, non-ASCII letters approximated by every non-ASCII byte.
bool is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), as Python's
// decoder.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Bytes of the whitespace character (Python's str.isspace) that starts at s[i]; 0 if none.
std::size_t space_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F)) return 1;
  auto next = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (c == 0xC2 && (next(1) == 0x85 || next(1) == 0xA0)) return 2;
  if (c == 0xE1 && next(1) == 0x9A && next(2) == 0x80) return 3;                   // U+1680
  if (c == 0xE2 && next(1) == 0x80 && (next(2) <= 0x8A || next(2) == 0xA8 || next(2) == 0xA9 || next(2) == 0xAF) &&
      next(2) >= 0x80)
    return 3;                                                                        // U+2000-200A, 2028, 2029, 202F
  if (c == 0xE2 && next(1) == 0x81 && next(2) == 0x9F) return 3;                   // U+205F
  if (c == 0xE3 && next(1) == 0x80 && next(2) == 0x80) return 3;                   // U+3000
  return 0;
}

std::size_t skip_spaces(std::string_view s, std::size_t i) {
  while (i < s.size()) {
    auto n = space_at(s, i);
    if (n == 0) break;
    i += n;
  }
  return i;
}

// Python's str.strip().
std::string_view strip(std::string_view s) {
  s.remove_prefix(std::min(skip_spaces(s, 0), s.size()));
  while (!s.empty()) {
    std::size_t n = 0;
    for (std::size_t len = 1; len <= 3 && len <= s.size(); ++len)
      if (space_at(s, s.size() - len) == len) n = len;
    if (n == 0) break;
    s.remove_suffix(n);
  }
  return s;
}

// Python's shlex.split(line, comments=True): words split at blanks; '...' keeps everything,
// "..." everything but \" and \\; outside quotes \x is x; '#' outside quotes ends the line.
Result<std::vector<std::string>> shlex_split(std::string_view s) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    if (c == '#') break;
    in_word = true;
    if (c == '\\') {
      if (i + 1 >= s.size()) return make_error(Errc::invalid_argument, "no character after '\\'");
      word += s[i + 1];
      i += 2;
    } else if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) return make_error(Errc::invalid_argument, "no closing quotation");
      word.append(s.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      for (++i;; ++i) {
        if (i >= s.size()) return make_error(Errc::invalid_argument, "no closing quotation");
        if (s[i] == '"') break;
        if (s[i] == '\\' && i + 1 < s.size()) {
          if (s[i + 1] != '"' && s[i + 1] != '\\') word += '\\';
          word += s[++i];
        } else {
          word += s[i];
        }
      }
      ++i;
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// ---------------------------------------------------------------------------------------
// Python literals (ast.literal_eval) as YAML nodes.

// Python's repr() of a float (the shortest digits that read back, exponent form below 1e-4
// and from 1e16); `bare` leaves ".0" off integral values, as in complex numbers.
std::string py_float(double d, bool bare) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));  // "-1.2345e+02"
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const auto e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int x = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), x);
  if (x >= -4 && x < 16) {
    if (x >= 0) {
      const auto int_len = static_cast<std::size_t>(x) + 1;
      if (digits.size() < int_len) digits.append(int_len - digits.size(), '0');
      out += digits.substr(0, int_len);
      if (digits.size() > int_len) out += "." + digits.substr(int_len);
      else if (!bare) out += ".0";
    } else {
      out += "0." + std::string(static_cast<std::size_t>(-x - 1), '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int ax = x < 0 ? -x : x;
    out += std::string("e") + (x < 0 ? "-" : "+") + (ax < 10 ? "0" : "") + std::to_string(ax);
  }
  return out;
}

class PyLiteral {
 public:
  enum class Outcome { value, text, error };

  explicit PyLiteral(std::string_view s) : s_(s) {}

  Outcome parse(YAML::Node& out, std::string& error) {
    auto v = top();
    // A SyntaxError or ValueError leaves the text as it is; the first TypeError before a
    // ValueError is an error, as Ansible does not catch it.
    if (syntax_) return Outcome::text;
    if (!type_error_.empty()) {
      error = type_error_;
      return Outcome::error;
    }
    if (!v) return Outcome::text;
    out = v->node;
    return Outcome::value;
  }

 private:
  // Python refuses deeper nesting of brackets ("too many nested parentheses").
  static constexpr int kMaxDepth = 200;
  enum class Kind { str, bytes, number, boolean, none, tuple, list, set, dict };
  enum class Num { integer, real, complex };

  struct Value {
    YAML::Node node;
    Kind kind = Kind::none;
    bool hashable = true;
    std::string canon;  // identity as a set member
    std::string key;    // text as a mapping key (scalars)
    // Numbers, until rendered: integer digits (sign apart), a float, or a complex.
    Num num = Num::integer;
    std::string digits;
    bool negative = false;
    double real = 0, re = 0, im = 0;
    bool signed_num = false;   // a unary + or - was applied
    bool complex_sum = false;  // a + bj
  };

  std::string_view s_;
  std::size_t i_ = 0;
  bool syntax_ = false;
  std::string type_error_;

  std::nullopt_t syntax() {
    syntax_ = true;
    return std::nullopt;
  }
  bool bad() {
    syntax_ = true;
    return false;
  }
  // A valid expression that is not a literal (a name, a call, an operator): the text stays.
  static std::nullopt_t malformed() { return std::nullopt; }

  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }

  void skip_ws() {
    while (!at_end()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\f') {
        ++i_;
      } else if (c == '#') {
        i_ = s_.size();
      } else {
        break;
      }
    }
  }

  static Value scalar(Kind kind, const std::string& text, const std::string& canon_prefix) {
    Value v;
    v.kind = kind;
    v.node = YAML::Node(text);
    v.key = text;
    v.canon = canon_prefix + text;
    return v;
  }

  static void render_number(Value& v) {
    std::string text;
    switch (v.num) {
      case Num::integer:
        text = (v.negative && v.digits != "0" ? "-" : "") + v.digits;
        break;
      case Num::real:
        text = py_float(v.real, false);
        break;
      case Num::complex:
        // Python prints a real part of +0 not at all.
        if (v.re == 0 && !std::signbit(v.re)) {
          text = py_float(v.im, true) + "j";
        } else {
          std::string im = py_float(v.im, true);
          if (im[0] != '-') im.insert(0, "+");
          text = "(" + py_float(v.re, true) + im + "j)";
        }
        break;
    }
    v.kind = Kind::number;
    v.node = YAML::Node(text);
    v.key = text;
    v.canon = "n:" + text;
  }

  static double to_double(const Value& v) {
    if (v.num == Num::real) return v.real;
    double d = 0;
    auto r = std::from_chars(v.digits.data(), v.digits.data() + v.digits.size(), d);
    if (r.ec == std::errc::result_out_of_range) d = HUGE_VAL;
    return v.negative ? -d : d;
  }

  std::optional<Value> top() {
    skip_ws();
    if (at_end()) return syntax();
    auto first = item(0);
    if (!first) return std::nullopt;
    skip_ws();
    if (peek() == ',') {
      // A bare tuple: "1, 2".
      std::vector<Value> elems{std::move(*first)};
      while (peek() == ',') {
        ++i_;
        skip_ws();
        if (at_end()) break;
        auto e = item(0);
        if (!e) return std::nullopt;
        elems.push_back(std::move(*e));
        skip_ws();
      }
      first = sequence(Kind::tuple, elems);
    }
    skip_ws();
    if (!at_end()) return syntax();
    return first;
  }

  // A value with an optional sign, or a + bj.
  std::optional<Value> item(int depth) {
    skip_ws();
    int signs = 0;
    bool minus = false;
    while (peek() == '+' || peek() == '-') {
      minus ^= peek() == '-';
      ++signs;
      ++i_;
      skip_ws();
    }
    if (signs > 1) return malformed();
    auto v = atom(depth);
    if (!v) return std::nullopt;
    if (signs == 1) {
      if (v->kind != Kind::number || v->signed_num || v->complex_sum) return malformed();
      v->signed_num = true;
      if (minus) {
        if (v->num == Num::integer) v->negative = !v->negative;
        v->real = -v->real;
        v->re = -v->re;
        v->im = -v->im;
      }
      render_number(*v);
    }
    skip_ws();
    if (peek() == '+' || peek() == '-') {
      // Only a real number plus or minus an imaginary one is a literal (a complex).
      const bool sub = peek() == '-';
      ++i_;
      skip_ws();
      if (peek() == '+' || peek() == '-') return malformed();
      auto right = atom(depth);
      if (!right) return std::nullopt;
      if (v->kind != Kind::number || v->num == Num::complex || v->complex_sum || right->kind != Kind::number ||
          right->num != Num::complex || right->signed_num || right->complex_sum)
        return malformed();
      const double left = to_double(*v);
      v->re = sub ? left - right->re : left + right->re;
      v->im = sub ? -right->im : right->im;
      v->num = Num::complex;
      v->complex_sum = true;
      render_number(*v);
      skip_ws();
      if (peek() == '+' || peek() == '-') return malformed();
    }
    return v;
  }

  std::optional<Value> atom(int depth) {
    skip_ws();
    if (at_end()) return syntax();
    const char c = s_[i_];
    if (c == '(' || c == '[' || c == '{') return container(depth);
    if (c == '\'' || c == '"') return strings();
    if (is_digit(c) || (c == '.' && i_ + 1 < s_.size() && is_digit(s_[i_ + 1]))) return number();
    if (s_.substr(i_, 3) == "...") {
      // Ansible turns Ellipsis into the text "...".
      i_ += 3;
      return scalar(Kind::str, "...", "e:");
    }
    if (is_word(c) && !is_digit(c)) {
      const std::size_t start = i_;
      while (!at_end() && is_word(s_[i_])) ++i_;
      const std::string_view name = s_.substr(start, i_ - start);
      if (!at_end() && (s_[i_] == '\'' || s_[i_] == '"') && name.size() <= 2) {
        i_ = start;
        return strings();
      }
      if (name == "True" || name == "False") return scalar(Kind::boolean, std::string(name), "b:");
      if (name == "None") {
        Value v;
        v.kind = Kind::none;
        v.node = YAML::Node(YAML::NodeType::Null);
        v.key = "None";
        v.canon = "None";
        return v;
      }
      if (name == "set") {
        // set() is the empty set, which literal_eval allows.
        skip_ws();
        if (peek() == '(') {
          ++i_;
          skip_ws();
          if (peek() == ')') {
            ++i_;
            std::vector<Value> none;
            return sequence(Kind::set, none);
          }
        }
      }
      return malformed();
    }
    return syntax();
  }

  Value sequence(Kind kind, std::vector<Value>& elems) {
    Value v;
    v.kind = kind;
    v.node = YAML::Node(YAML::NodeType::Sequence);
    v.hashable = kind == Kind::tuple;
    std::set<std::string> seen;
    std::string canon = "(";
    for (auto& e : elems) {
      if (kind == Kind::set && !seen.insert(e.canon).second) continue;
      v.node.push_back(e.node);
      v.hashable = v.hashable && e.hashable;
      if (v.hashable) canon += e.canon + ",";
    }
    if (v.hashable) v.canon = canon + ")";
    return v;
  }

  // The first TypeError in literal_eval's order, which is the text's order.
  void check_hashable(const Value& v, const char* as) {
    if (v.hashable || !type_error_.empty()) return;
    const char* type = v.kind == Kind::list ? "list" : v.kind == Kind::dict ? "dict" : v.kind == Kind::set ? "set" : "tuple";
    type_error_ = std::string("a ") + type + " cannot be " + as + " (unhashable)";
  }

  std::optional<Value> container(int depth) {
    if (depth >= kMaxDepth) return syntax();
    const char open = s_[i_++];
    const char close = open == '(' ? ')' : open == '[' ? ']' : '}';
    skip_ws();
    if (peek() == close) {
      ++i_;
      std::vector<Value> none;
      if (open == '{') {
        Value v;
        v.kind = Kind::dict;
        v.hashable = false;
        v.node = YAML::Node(YAML::NodeType::Map);
        return v;
      }
      return sequence(open == '(' ? Kind::tuple : Kind::list, none);
    }
    auto first = item(depth + 1);
    if (!first) return std::nullopt;
    skip_ws();
    if (open == '{' && peek() == ':') return dict(depth, std::move(*first));

    const Kind kind = open == '(' ? Kind::tuple : open == '[' ? Kind::list : Kind::set;
    if (kind == Kind::set) check_hashable(*first, "a set member");
    std::vector<Value> elems{std::move(*first)};
    bool comma = false;
    for (;;) {
      skip_ws();
      if (peek() == close) break;
      if (peek() != ',') return syntax();
      ++i_;
      comma = true;
      skip_ws();
      if (peek() == close) break;
      auto e = item(depth + 1);
      if (!e) return std::nullopt;
      if (kind == Kind::set) check_hashable(*e, "a set member");
      elems.push_back(std::move(*e));
    }
    ++i_;
    // (x) is x itself.
    if (kind == Kind::tuple && !comma) return std::move(elems[0]);
    return sequence(kind, elems);
  }

  std::optional<Value> dict(int depth, Value first_key) {
    std::vector<std::pair<std::string, YAML::Node>> entries;
    std::map<std::string, std::size_t> at;
    std::optional<Value> key = std::move(first_key);
    for (;;) {
      // At ':' after a key.
      ++i_;
      auto value = item(depth + 1);
      if (!value) return std::nullopt;
      check_hashable(*key, "a dict key");
      if (key->hashable && key->kind == Kind::tuple && type_error_.empty())
        type_error_ = "a tuple cannot be a dict key here (keys are strings, numbers, booleans or None)";
      // A repeated key keeps its place and takes the last value, as in a Python dict.
      if (auto it = at.find(key->key); it != at.end()) {
        entries[it->second].second = value->node;
      } else {
        at.emplace(key->key, entries.size());
        entries.emplace_back(key->key, value->node);
      }
      skip_ws();
      if (peek() == '}') break;
      if (peek() != ',') return syntax();
      ++i_;
      skip_ws();
      if (peek() == '}') break;
      key = item(depth + 1);
      if (!key) return std::nullopt;
      skip_ws();
      if (peek() != ':') return syntax();
    }
    ++i_;
    Value v;
    v.kind = Kind::dict;
    v.hashable = false;
    v.node = YAML::Node(YAML::NodeType::Map);
    for (const auto& [k, node] : entries) v.node[k] = node;
    return v;
  }

  // Adjacent string literals, joined: 'a' "b" is "ab".
  std::optional<Value> strings() {
    std::string content;
    int bytes = -1;  // unknown, 0 str, 1 bytes
    for (;;) {
      skip_ws();
      const std::size_t save = i_;
      std::string prefix;
      while (!at_end() && is_alpha(s_[i_]) && prefix.size() < 3) prefix += static_cast<char>(std::tolower(s_[i_++]));
      if (at_end() || (s_[i_] != '\'' && s_[i_] != '"')) {
        i_ = save;
        if (bytes < 0) return syntax();
        break;
      }
      static const std::set<std::string> kPrefixes = {"", "r", "u", "b", "br", "rb", "f", "fr", "rf"};
      if (!kPrefixes.count(prefix)) return syntax();
      // An f-string is no literal (and its braces are a language of their own).
      if (prefix.find('f') != std::string::npos) return syntax();
      const bool is_bytes = prefix.find('b') != std::string::npos;
      const bool raw = prefix.find('r') != std::string::npos;
      if (bytes >= 0 && bytes != static_cast<int>(is_bytes)) return syntax();
      bytes = is_bytes;
      if (!string_body(content, is_bytes, raw)) return std::nullopt;
    }
    if (bytes == 1 && !valid_utf8(content)) return malformed();
    return scalar(bytes == 1 ? Kind::bytes : Kind::str, content, bytes == 1 ? "B:" : "s:");
  }

  int hex_value(char c) const {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // One quoted literal at i_, its text appended to `out`.
  bool string_body(std::string& out, bool is_bytes, bool raw) {
    const char q = s_[i_];
    const bool triple = s_.substr(i_, 3) == std::string(3, q);
    i_ += triple ? 3 : 1;
    for (;;) {
      if (at_end()) return bad();
      const char c = s_[i_];
      if (c == q && (!triple || s_.substr(i_, 3) == std::string(3, q))) {
        i_ += triple ? 3 : 1;
        return true;
      }
      if (c != '\\') {
        if (is_bytes && static_cast<unsigned char>(c) >= 0x80) return bad();
        out += c;
        ++i_;
        continue;
      }
      if (i_ + 1 >= s_.size()) return bad();
      const char e = s_[i_ + 1];
      if (raw) {
        out += '\\';
        out += e;
        i_ += 2;
        continue;
      }
      i_ += 2;
      switch (e) {
        case '\\': out += '\\'; continue;
        case '\'': out += '\''; continue;
        case '"': out += '"'; continue;
        case 'a': out += '\a'; continue;
        case 'b': out += '\b'; continue;
        case 'f': out += '\f'; continue;
        case 'n': out += '\n'; continue;
        case 'r': out += '\r'; continue;
        case 't': out += '\t'; continue;
        case 'v': out += '\v'; continue;
        default: break;
      }
      if (e >= '0' && e <= '7') {
        std::uint32_t v = static_cast<std::uint32_t>(e - '0');
        for (int k = 0; k < 2 && !at_end() && s_[i_] >= '0' && s_[i_] <= '7'; ++k) v = v * 8 + static_cast<std::uint32_t>(s_[i_++] - '0');
        if (is_bytes) {
          if (v > 0xFF) return bad();
          out += static_cast<char>(v);
        } else {
          append_utf8(out, v);
        }
        continue;
      }
      const int len = e == 'x' ? 2 : (!is_bytes && e == 'u') ? 4 : (!is_bytes && e == 'U') ? 8 : 0;
      if (len > 0) {
        std::uint32_t v = 0;
        for (int k = 0; k < len; ++k) {
          const int h = at_end() ? -1 : hex_value(s_[i_]);
          if (h < 0) return bad();
          v = v * 16 + static_cast<std::uint32_t>(h);
          ++i_;
        }
        if (is_bytes) {
          out += static_cast<char>(v);
        } else {
          // A surrogate has no UTF-8 (Python keeps it; no file could hold it).
          if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return bad();
          append_utf8(out, v);
        }
        continue;
      }
      // \N{NAME} would need Unicode's name table: left as text.
      if (!is_bytes && e == 'N') return bad();
      // An unknown escape keeps its backslash.
      out += '\\';
      out += e;
    }
  }

  // digit (["_"] digit)*: appends the digits; 0 when none, -1 on a stray '_'.
  int digit_part(std::string& out) {
    if (!is_digit(peek())) return 0;
    out += s_[i_++];
    while (!at_end()) {
      if (s_[i_] == '_') {
        if (i_ + 1 < s_.size() && is_digit(s_[i_ + 1])) {
          out += s_[i_ + 1];
          i_ += 2;
          continue;
        }
        return -1;
      }
      if (!is_digit(s_[i_])) break;
      out += s_[i_++];
    }
    return 1;
  }

  std::optional<Value> number() {
    Value v;
    v.kind = Kind::number;
    if (s_[i_] == '0' && i_ + 1 < s_.size() && std::string_view("xXoObB").find(s_[i_ + 1]) != std::string_view::npos) {
      const char b = static_cast<char>(std::tolower(s_[i_ + 1]));
      const int base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
      i_ += 2;
      std::uint64_t value = 0;
      bool any = false, overflow = false;
      while (!at_end()) {
        if (s_[i_] == '_') {
          const int h = i_ + 1 < s_.size() ? hex_value(s_[i_ + 1]) : -1;
          if (h < 0 || h >= base) return syntax();
          ++i_;
          continue;
        }
        const int h = hex_value(s_[i_]);
        if (h < 0 || h >= base) break;
        const auto d = static_cast<std::uint64_t>(h);
        if (value > (UINT64_MAX - d) / static_cast<std::uint64_t>(base)) overflow = true;
        value = value * static_cast<std::uint64_t>(base) + d;
        any = true;
        ++i_;
      }
      if (!any || (!at_end() && is_word(s_[i_]))) return syntax();
      // Past 64 bits: left as text (Python would keep the big number).
      if (overflow) return malformed();
      v.num = Num::integer;
      v.digits = std::to_string(value);
      render_number(v);
      return v;
    }

    std::string int_part, frac, exp;
    bool dot = false, neg_exp = false;
    if (digit_part(int_part) < 0) return syntax();
    if (peek() == '.') {
      ++i_;
      dot = true;
      if (digit_part(frac) < 0) return syntax();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') neg_exp = s_[i_++] == '-';
      if (digit_part(exp) <= 0) return syntax();
    }
    const bool imag = peek() == 'j' || peek() == 'J';
    if (imag) ++i_;
    if (!at_end() && is_word(s_[i_])) return syntax();

    if (!dot && exp.empty() && !imag) {
      // Python refuses leading zeros on a decimal integer, except 0 itself.
      if (int_part.size() > 1 && int_part[0] == '0' && int_part.find_first_not_of('0') != std::string::npos)
        return syntax();
      auto first = int_part.find_first_not_of('0');
      v.digits = first == std::string::npos ? "0" : int_part.substr(first);
      // Python 3.11+ refuses longer decimal integers.
      if (v.digits.size() > 4300) return syntax();
      v.num = Num::integer;
      render_number(v);
      return v;
    }

    std::string text = (int_part.empty() ? "0" : int_part) + "." + (frac.empty() ? "0" : frac);
    if (!exp.empty()) text += std::string("e") + (neg_exp ? "-" : "") + exp;
    double d = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), d);
    if (r.ec == std::errc::result_out_of_range) {
      // Too large is inf, too small 0.0, as Python reads them: the first significant digit's
      // power of ten decides.
      long e10 = 0;
      for (std::size_t k = 0; k < exp.size() && e10 < 1000000; ++k) e10 = e10 * 10 + (exp[k] - '0');
      if (neg_exp) e10 = -e10;
      const std::string all = int_part + frac;
      const auto sig = all.find_first_not_of('0');
      const long mag = e10 + static_cast<long>(int_part.size()) - 1 - static_cast<long>(sig);
      d = mag > 0 ? HUGE_VAL : 0.0;
    }
    if (imag) {
      v.num = Num::complex;
      v.re = 0;
      v.im = d;
    } else {
      v.num = Num::real;
      v.real = d;
    }
    render_number(v);
    return v;
  }
};

// ---------------------------------------------------------------------------------------
// Host patterns: host:port as Ansible's parse_address splits them.

// "[a:f]", "[01:50]" or "[01:50:2]" at s[i] (the ranges parse_address allows); its length
// or 0.
std::size_t range_at(std::string_view s, std::size_t i) {
  std::size_t j = i + 1;
  auto digits = [&] {
    const std::size_t from = j;
    while (j < s.size() && is_digit(s[j])) ++j;
    return j > from;
  };
  if (j + 2 < s.size() && is_alpha(s[j]) && s[j + 1] == ':' && is_alpha(s[j + 2])) {
    j += 3;
  } else {
    if (!digits() || j >= s.size() || s[j] != ':') return 0;
    ++j;
    if (!digits()) return 0;
  }
  if (j < s.size() && s[j] == ':') {
    ++j;
    if (!digits()) return 0;
  }
  if (j >= s.size() || s[j] != ']') return 0;
  return j + 1 - i;
}

// parse_address's host name: labels of word characters, '-' and ranges, split by dots, none
// starting with '-' or ending with '-' or '_'.
bool valid_host_name(std::string_view s) {
  std::size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return false;
    char last = 0;
    for (std::size_t i = 0; i < label.size();) {
      if (label[i] == '[') {
        auto n = range_at(label, i);
        if (n == 0) return false;
        i += n;
        last = ']';
        continue;
      }
      if (!is_word(label[i]) && !(label[i] == '-' && i > 0)) return false;
      last = label[i++];
    }
    if (last == '-' || last == '_') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_ipv6(const std::string& s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

struct HostPort {
  std::string host;
  std::optional<std::string> port;  // digits, no leading zeros
};

// As parse_address(allow_ranges=True): "[addr]:port", then "host:port" where the host has
// no ':' outside brackets (so no bare IPv6 address loses its last group); when what is left
// is no host name or IPv6 address, the pattern stays whole, without a port.
HostPort split_port(const std::string& pattern) {
  std::string addr = pattern;
  std::optional<std::string> port;
  if (addr.size() >= 4 && addr[0] == '[') {
    auto colon = addr.rfind(':');
    if (colon != std::string::npos && colon >= 3 && addr[colon - 1] == ']' && all_digits(std::string_view(addr).substr(colon + 1))) {
      port = addr.substr(colon + 1);
      addr = addr.substr(1, colon - 2);
    }
  }
  std::size_t i = 0;
  while (i < addr.size() && addr[i] != ':' && addr[i] != ']') {
    if (addr[i] == '[') {
      auto end = addr.find(']', i + 1);
      if (end == std::string::npos) break;
      i = end + 1;
    } else {
      ++i;
    }
  }
  if (i < addr.size() && addr[i] == ':' && all_digits(std::string_view(addr).substr(i + 1))) {
    port = addr.substr(i + 1);
    addr = addr.substr(0, i);
  }
  if (!port) return {pattern, std::nullopt};
  if (!valid_host_name(addr) && !valid_ipv6(addr)) return {pattern, std::nullopt};
  auto first = port->find_first_not_of('0');
  port = first == std::string::npos ? "0" : port->substr(first);
  return {addr, port};
}

// ---------------------------------------------------------------------------------------

struct Section {
  std::string group;
  std::string type;  // "" for [group]
};

// "[group]" or "[group:type]", then blanks and an optional '#' comment (the plugin's pattern).
std::optional<Section> match_section(std::string_view s) {
  if (s.empty() || s[0] != '[') return std::nullopt;
  std::size_t i = 1;
  while (i < s.size() && s[i] != ':' && s[i] != ']' && space_at(s, i) == 0) ++i;
  if (i == 1 || i >= s.size()) return std::nullopt;
  Section sec{std::string(s.substr(1, i - 1)), ""};
  if (s[i] == ':') {
    std::size_t j = i + 1;
    while (j < s.size() && is_word(s[j])) ++j;
    if (j == i + 1) return std::nullopt;
    sec.type = std::string(s.substr(i + 1, j - i - 1));
    i = j;
  }
  if (i >= s.size() || s[i] != ']') return std::nullopt;
  i = skip_spaces(s, i + 1);
  if (i < s.size() && s[i] != '#') return std::nullopt;
  return sec;
}

// A [group:children] line: a group name, then blanks and an optional '#' comment.
std::optional<std::string> match_group_name(std::string_view s) {
  std::size_t run = 0;
  while (run < s.size() && s[run] != ':' && s[run] != ']' && space_at(s, run) == 0) ++run;
  if (run == 0) return std::nullopt;
  const std::size_t rest = skip_spaces(s, run);
  if (rest >= s.size() || s[rest] == '#') return std::string(s.substr(0, run));
  // The pattern's backtracking: a '#' inside the name starts the comment instead.
  auto hash = s.substr(0, run).rfind('#');
  if (hash == std::string_view::npos || hash == 0) return std::nullopt;
  return std::string(s.substr(0, hash));
}

class IniReader {
 public:
  IniReader(const std::string& file, InventorySource& into, Problems& problems, std::size_t max_hosts)
      : file_(file), into_(into), problems_(problems), max_hosts_(max_hosts),
        budget_(max_hosts > SIZE_MAX / kMaxIniAssignmentsPerHost ? SIZE_MAX : max_hosts * kMaxIniAssignmentsPerHost) {
    declared_.insert({"all", "ungrouped"});
    for (const auto& [name, group] : into_.groups) declared_.insert(name);
  }

  void read(std::string_view text) {
    if (text.size() > kMaxIniFileBytes) {
      problem(0, "", "larger than " + std::to_string(kMaxIniFileBytes / (1024 * 1024)) + " MiB");
      return;
    }
    // A byte order mark is no part of the first line (Ansible would read "\ufeff[group]").
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    // A UTF-8 file splits where Python's str.splitlines does; otherwise as bytes do, and
    // only comment lines may be other than UTF-8, as the plugin reads them.
    const bool utf8 = valid_utf8(text);
    int no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = pos, next = 0;
      for (; end < text.size(); ++end) {
        const auto c = static_cast<unsigned char>(text[end]);
        if (c == '\n' || c == '\r') {
          next = end + (c == '\r' && end + 1 < text.size() && text[end + 1] == '\n' ? 2 : 1);
          break;
        }
        if (!utf8) continue;
        if (c == '\v' || c == '\f' || (c >= 0x1C && c <= 0x1E)) {
          next = end + 1;
          break;
        }
        if (c == 0xC2 && end + 1 < text.size() && static_cast<unsigned char>(text[end + 1]) == 0x85) {
          next = end + 2;
          break;
        }
        if (c == 0xE2 && end + 2 < text.size() && static_cast<unsigned char>(text[end + 1]) == 0x80 &&
            (static_cast<unsigned char>(text[end + 2]) == 0xA8 || static_cast<unsigned char>(text[end + 2]) == 0xA9)) {
          next = end + 3;
          break;
        }
      }
      if (end == text.size()) next = end;
      std::string_view line = text.substr(pos, end - pos);
      pos = next;
      ++no;
      if (!utf8) {
        if (!line.empty() && (line[0] == '#' || line[0] == ';')) continue;
        if (!valid_utf8(line)) {
          problem(no, label_, "not UTF-8 text");
          continue;
        }
      }
      if (line.size() > kMaxIniLineBytes) {
        problem(no, label_, "line longer than " + std::to_string(kMaxIniLineBytes / 1024) + " KiB");
        continue;
      }
      read_line(line, no);
    }
    finish();
  }

 private:
  enum class State { hosts, vars, children, skip };

  void problem(int line, const std::string& key, const std::string& message) {
    problems_.push_back(Problem{file_, line, key, message});
  }

  void read_line(std::string_view raw, int no) {
    const std::string_view s = strip(raw);
    if (s.empty() || s[0] == '#' || s[0] == ';') return;
    if (auto sec = match_section(s)) return section(*sec, no);
    if (s.front() == '[' && s.back() == ']') {
      problem(no, std::string(s),
              "not a section header: [group], [group:vars] or [group:children], without spaces, then only a comment");
      // Its lines would land in the group before it.
      state_ = State::skip;
      return;
    }
    switch (state_) {
      case State::hosts: return host_line(s, no);
      case State::vars: return vars_line(s, no);
      case State::children: return children_line(s, no);
      case State::skip: return;
    }
  }

  void section(const Section& sec, int no) {
    label_ = "[" + sec.group + (sec.type.empty() ? "" : ":" + sec.type) + "]";
    const std::string type = sec.type.empty() ? "hosts" : sec.type;
    if (type != "hosts" && type != "vars" && type != "children") {
      problem(no, label_, "unknown section type '" + type + "' (hosts, vars or children)");
      state_ = State::skip;
      return;
    }
    group_ = sec.group;
    into_.group(group_);
    if (type == "vars") {
      state_ = State::vars;
      // Allowed before the group's own header; a group declared nowhere is a problem.
      if (!declared_.count(group_) && !pending_.count(group_))
        pending_.emplace(group_, Pending{no, label_, "section " + label_ + " is for a group declared nowhere"});
      return;
    }
    state_ = type == "children" ? State::children : State::hosts;
    declared_.insert(group_);
    pending_.erase(group_);
  }

  void host_line(std::string_view s, int no) {
    if (hosts_full_ || budget_spent_) return;
    auto words = shlex_split(s);
    if (!words) return problem(no, label_, "cannot split the host line: " + words.error().message);
    if (words->empty()) return;
    const std::string& pattern = (*words)[0];
    const std::string where = label_ + " " + pattern;

    // The line's variables, parsed once for every host of it; the last of a name wins.
    std::vector<std::pair<std::string, YAML::Node>> vars;
    for (std::size_t w = 1; w < words->size(); ++w) {
      const std::string& word = (*words)[w];
      auto eq = word.find('=');
      if (eq == std::string::npos)
        return problem(no, where, "expected key=value after the host name, got '" + word + "'");
      std::string name = word.substr(0, eq);
      if (name.empty()) return problem(no, where, "'" + word + "' has no variable name before '='");
      auto value = parse_ini_value(word.substr(eq + 1));
      if (!value) return problem(no, where + " " + name, value.error().message);
      vars.emplace_back(std::move(name), *value);
    }

    auto [host_pattern, port] = split_port(pattern);
    if (!port && !strip(pattern).empty() && strip(pattern).back() == ':')
      return problem(no, where, "a host ends in ':', which is reserved for a port (host:port)");
    auto names = expand_host_range(host_pattern, max_hosts_);
    if (!names) return problem(no, where, names.error().message);
    for (const auto& name : *names) {
      if (strip(name) == "---") return problem(no, where, "a host named '---': this looks like a YAML file");
      if (name.empty()) return problem(no, where, "an empty host name");
    }

    for (const auto& name : *names) {
      const std::size_t cost = 1 + vars.size();
      if (cost > budget_ - spent_) {
        budget_spent_ = true;
        return problem(no, label_ + " " + name,
                       "more than " + std::to_string(budget_) + " host entries and variables in one file; the rest is not read");
      }
      spent_ += cost;
      const bool is_new = !into_.host_vars.count(name);
      if (is_new && into_.host_count() >= max_hosts_) {
        hosts_full_ = true;
        return problem(no, label_ + " " + name,
                       "more than " + std::to_string(max_hosts_) + " hosts in the inventory; the rest are not read");
      }
      Vars& host_vars = member(group_, name);
      const std::string key = label_ + " " + name;
      // As Ansible: the port of a host's first mention (not 0); variables after it win.
      if (is_new && port && *port != "0") set_var(host_vars, "ansible_port", Var{YAML::Node(*port), file_, no, key});
      for (const auto& [k, v] : vars) set_var(host_vars, k, Var{v, file_, no, key});
    }
  }

  void vars_line(std::string_view s, int no) {
    auto eq = s.find('=');
    if (eq == std::string_view::npos) return problem(no, label_, "expected key=value, got '" + std::string(s) + "'");
    const std::string name(strip(s.substr(0, eq)));
    const std::string text(strip(s.substr(eq + 1)));
    const std::string key = label_ + " " + name;
    if (name.empty()) return problem(no, key, "no variable name before '='");
    auto value = parse_ini_value(text);
    if (!value) return problem(no, key, value.error().message);
    set_var(into_.group(group_).vars, name, Var{*value, file_, no, key});
  }

  void children_line(std::string_view s, int no) {
    auto child = match_group_name(s);
    if (!child) return problem(no, label_, "expected a group name, got '" + std::string(s) + "'");
    const std::string key = label_ + " " + *child;
    if (*child == "all" || *child == group_)
      return problem(no, key, "a group cannot contain '" + *child + "'");
    into_.group(*child);
    auto& index = indexed(children_, group_, [&] { return into_.group(group_).children; });
    if (index.insert(*child).second) into_.group(group_).children.push_back(*child);
    if (!declared_.count(*child) && !pending_.count(*child))
      pending_.emplace(*child, Pending{no, key, "group '" + *child + "' is declared nowhere ([" + *child + "] or [" +
                                                    *child + ":children])"});
  }

  Vars& member(const std::string& group, const std::string& host) {
    if (group == "ungrouped" && !ungrouped_linked_) {
      into_.add_child("all", "ungrouped");
      ungrouped_linked_ = true;
    }
    return into_.add_host(group, host);
  }

  using Index = std::unordered_map<std::string, std::unordered_set<std::string>>;
  template <typename List>
  static std::unordered_set<std::string>& indexed(Index& indexes, const std::string& group, List list) {
    auto it = indexes.find(group);
    if (it == indexes.end()) {
      const auto& names = list();
      it = indexes.emplace(group, std::unordered_set<std::string>(names.begin(), names.end())).first;
    }
    return it->second;
  }

  void finish() {
    std::vector<const Pending*> left;
    for (const auto& [group, p] : pending_) left.push_back(&p);
    std::sort(left.begin(), left.end(), [](const Pending* a, const Pending* b) { return a->line < b->line; });
    for (const auto* p : left) problem(p->line, p->key, p->message);
  }

  struct Pending {
    int line;
    std::string key, message;
  };

  const std::string& file_;
  InventorySource& into_;
  Problems& problems_;
  const std::size_t max_hosts_;
  const std::size_t budget_;
  std::size_t spent_ = 0;
  bool hosts_full_ = false, budget_spent_ = false, ungrouped_linked_ = false;

  std::string group_ = "ungrouped";
  std::string label_ = "[ungrouped]";
  State state_ = State::hosts;
  std::set<std::string> declared_;
  std::map<std::string, Pending> pending_;  // the first mention of each group not (yet) declared
  Index children_;
};

}  // namespace

Result<YAML::Node> parse_ini_value(const std::string& text) {
  // literal_eval skips leading blanks; the text stays as given.
  std::string_view s(text);
  while (!s.empty() && (s[0] == ' ' || s[0] == '\t')) s.remove_prefix(1);
  YAML::Node node;
  std::string error;
  switch (PyLiteral(s).parse(node, error)) {
    case PyLiteral::Outcome::value: return node;
    case PyLiteral::Outcome::text: return YAML::Node(text);
    case PyLiteral::Outcome::error: break;
  }
  return make_error(Errc::invalid_argument, "'" + text + "' is not a valid value: " + error);
}

void read_ini_inventory(const std::string& text, const std::string& file, InventorySource& into, Problems& problems,
                        std::size_t max_hosts) {
  try {
    IniReader(file, into, problems, max_hosts).read(text);
  } catch (const std::exception& e) {
    // yaml-cpp or the allocator; nothing else here throws.
    problems.push_back(Problem{file, 0, "", std::string("cannot read the inventory: ") + e.what()});
  }
}

}  // namespace rs::agent
