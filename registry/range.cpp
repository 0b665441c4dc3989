#include "registry/range.hpp"

#include <charconv>

namespace rs::registry {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Digits only. With `saturate`, a number too large for 64 bits is the largest one (a Range
// position is still valid by RFC 9110's grammar: past the end, so unsatisfiable).
bool parse_u64(std::string_view s, std::uint64_t& out, bool saturate = false) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range && saturate) out = UINT64_MAX;
  else if (ec != std::errc()) return false;
  return true;
}

}  // namespace

RangeResult resolve_range(std::string_view header, std::uint64_t size) {
  header = trim(header);
  if (header.substr(0, 6) != "bytes=") return {};
  auto spec = trim(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return {};
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  auto a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {
    // Suffix range: the last n bytes.
    if (!parse_u64(b, last, true) || last == 0) return {RangeStatus::unsatisfiable, {}};
    if (size == 0) return {RangeStatus::unsatisfiable, {}};
    std::uint64_t n = last < size ? last : size;
    return {RangeStatus::ok, {size - n, size - 1}};
  }
  if (!parse_u64(a, first, true)) return {};
  if (b.empty()) {
    last = size ? size - 1 : 0;
  } else {
    if (!parse_u64(b, last, true) || last < first) return {};
    if (last >= size) last = size ? size - 1 : 0;
  }
  if (first >= size) return {RangeStatus::unsatisfiable, {}};
  return {RangeStatus::ok, {first, last}};
}

std::optional<ByteRange> parse_content_range(std::string_view header) {
  header = trim(header);
  if (header.substr(0, 6) == "bytes ") header = trim(header.substr(6));
  if (header.substr(0, 6) == "bytes=") header = trim(header.substr(6));
  auto slash = header.find('/');
  if (slash != std::string_view::npos) header = header.substr(0, slash);
  auto dash = header.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  ByteRange r;
  // last = 2^64-1 would make the length wrap to 0.
  if (!parse_u64(header.substr(0, dash), r.first) || !parse_u64(header.substr(dash + 1), r.last) || r.last < r.first ||
      r.last == UINT64_MAX)
    return std::nullopt;
  return r;
}

}  // namespace rs::registry
