// A fact: one small read-only question about a host, with the answer expected. It is data
// (name, expected value, which task's apply makes it right) plus one function that looks.
// Whether a wrong fact is "drift" or "failed" is decided by the module checks: drift when a
// task that repairs it has a diff (apply will fix it), failed otherwise (apply would not).
#pragma once

#include "agent/host/host_context.hpp"

#include <functional>
#include <string>
#include <vector>

namespace rs::agent {

// What a fact saw.
struct Observation {
  bool matches = false;
  std::string actual;
  std::string message;  // why it does not match (the tool's own words where there are some)
};

// A task whose apply makes the fact right: by host and module ("registry_service").
struct Repairer {
  std::string host;
  std::string module;
};

struct Fact {
  std::string name;
  std::string expected;
  std::string task;  // the task of this host it is shown under; empty: "from this host"
  std::vector<Repairer> repaired_by;
  // Reads only. An error means the fact could not be observed (status failed).
  std::function<Result<Observation>(HostContext&)> observe;
};

}  // namespace rs::agent
