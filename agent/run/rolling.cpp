#include "agent/run/rolling.hpp"

#include <algorithm>
#include <charconv>

namespace rs::agent {
namespace {

constexpr long long kMaxBatch = 1'000'000'000;

Result<BatchSize> parse_size(const YAML::Node& node) {
  auto invalid = [&](const std::string& why) {
    return make_error(Errc::invalid_argument, "serial: " + why + " (a number of hosts, a percentage such as \"25%\", or a list of them)");
  };
  if (!node.IsScalar()) return invalid("a batch size must be a number or a percentage");
  std::string text = node.Scalar();
  BatchSize size;
  if (!text.empty() && text.back() == '%') {
    size.percent = true;
    text.pop_back();
  }
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, size.value);
  if (text.empty() || ec != std::errc() || end != last) return invalid("'" + node.Scalar() + "' is not a whole number");
  if (size.value < 0) return invalid("'" + node.Scalar() + "' is negative");
  if (size.percent && size.value > 100) return invalid("'" + node.Scalar() + "' is more than 100%");
  if (size.value > kMaxBatch) return invalid("'" + node.Scalar() + "' is too large");
  return size;
}

}  // namespace

Result<std::vector<BatchSize>> parse_serial(const YAML::Node& node) {
  std::vector<BatchSize> steps;
  if (node.IsSequence()) {
    if (node.size() == 0) return make_error(Errc::invalid_argument, "serial: an empty list");
    if (node.size() > kMaxSerialSteps)
      return make_error(Errc::invalid_argument, "serial: more than " + std::to_string(kMaxSerialSteps) + " batch sizes");
    for (const auto& item : node) {
      auto size = parse_size(item);
      if (!size) return size.error();
      steps.push_back(*size);
    }
    return steps;
  }
  auto size = parse_size(node);
  if (!size) return size.error();
  steps.push_back(*size);
  return steps;
}

Result<int> parse_max_fail_percentage(const YAML::Node& node) {
  auto invalid = make_error(Errc::invalid_argument, "max_fail_percentage: a number from 0 to 100");
  if (!node.IsScalar()) return invalid;
  std::string text = node.Scalar();
  if (!text.empty() && text.back() == '%') text.pop_back();
  int value = -1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(text.data(), last, value);
  if (text.empty() || ec != std::errc() || end != last || value < 0 || value > 100) return invalid;
  return value;
}

std::vector<std::size_t> Rolling::batches(std::size_t hosts) const {
  std::vector<std::size_t> sizes;
  if (hosts == 0) return sizes;
  if (serial.empty()) return {hosts};
  std::size_t left = hosts;
  for (std::size_t step = 0; left > 0; step = std::min(step + 1, serial.size() - 1)) {
    const auto& s = serial[step];
    // pct_to_int: int(pct / 100 * hosts) or 1; a plain 0 means all that is left.
    std::size_t n = s.percent ? std::max<std::size_t>(1, static_cast<std::size_t>(s.value) * hosts / 100)
                              : static_cast<std::size_t>(s.value);
    if (n == 0 || n >= left) n = left;
    sizes.push_back(n);
    left -= n;
  }
  return sizes;
}

bool Rolling::stops(std::size_t failed, std::size_t size) const {
  if (failed == 0 || size == 0) return false;
  if (max_fail_percentage) return failed * 100 > static_cast<std::size_t>(*max_fail_percentage) * size;
  // Without a limit: a rolling play stops at any failure; any play once all its hosts failed.
  return rolls() || failed == size;
}

std::string Rolling::describe() const {
  std::string text;
  if (!serial.empty()) {
    text = "serial ";
    for (std::size_t i = 0; i < serial.size(); ++i)
      text += (i ? "," : "") + std::to_string(serial[i].value) + (serial[i].percent ? "%" : "");
  }
  const int limit = max_fail_percentage.value_or(rolls() ? 0 : 100);
  if (max_fail_percentage || rolls()) text += (text.empty() ? "" : ", ") + std::string("max_fail_percentage ") + std::to_string(limit);
  return text;
}

}  // namespace rs::agent
