// Rolling runs, as Ansible's play keywords have them: `serial` cuts a play's hosts into
// batches run one after the other, `max_fail_percentage` says how many failures a batch may
// have before the rest of the run is stopped.
//
//   serial: 2            batches of 2 hosts
//   serial: "25%"        batches of a quarter of the play's hosts (at least 1)
//   serial: [1, 5, "50%"]  a first batch of 1, then 5, then half the hosts at a time
//   max_fail_percentage: 20   stop once more than 20% of a batch failed
//
// As ansible-core 2.14 (PlaybookExecutor._get_serialized_batches): percentages are of all
// the play's hosts, rounded down but at least 1 host, a plain 0 is all the rest, and the
// last size repeats. One
// difference, chosen for restarts: a play with `serial` and no `max_fail_percentage` stops
// at the first batch with a failed or unreachable host (Ansible goes on unless every host
// of the batch failed); `max_fail_percentage: 100` gives Ansible's behaviour.
#pragma once

#include "core/result.hpp"

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

struct BatchSize {
  long long value = 0;   // hosts, or a percentage of the play's hosts
  bool percent = false;
};

struct Rolling {
  std::vector<BatchSize> serial;             // empty: all hosts in one batch
  std::optional<int> max_fail_percentage;    // 0..100

  bool rolls() const { return !serial.empty(); }
  // The batch sizes for `hosts` hosts, in order; they add up to `hosts`.
  std::vector<std::size_t> batches(std::size_t hosts) const;
  // Whether `failed` hosts out of a batch of `size` stop the run.
  bool stops(std::size_t failed, std::size_t size) const;
  // "serial 2, max_fail_percentage 0" for messages.
  std::string describe() const;
};

inline constexpr std::size_t kMaxSerialSteps = 1000;

// `serial:` as written: a number, "N%", or a list of them; an error says what is wrong.
Result<std::vector<BatchSize>> parse_serial(const YAML::Node& node);
// `max_fail_percentage:` a number from 0 to 100 ("30%" too).
Result<int> parse_max_fail_percentage(const YAML::Node& node);

}  // namespace rs::agent
