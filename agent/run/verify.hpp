// `verify`: reads only. Per host, every task of the playbook is checked (the runner in
// check mode: a task with a diff is drift, and apply repairs exactly that) and the facts of
// facts.hpp are observed; the result is a table per host or one JSON document.
#pragma once

#include "agent/host/connector.hpp"
#include "agent/modules/fact.hpp"
#include "agent/run/playbook.hpp"
#include "agent/run/run_input.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace rs::agent {

enum class CheckStatus { ok, drift, failed };
const char* to_string(CheckStatus s);

struct CheckRow {
  std::string name;
  std::string kind;    // "task", "handler" or "fact"
  std::string module;  // tasks and handlers
  std::string group;   // facts: the task they are shown under; empty: "from this host"
  CheckStatus status = CheckStatus::ok;
  std::string expected;
  std::string actual;
  std::string message;
  std::vector<std::string> details;  // what apply would change, warnings
  // Facts: observed and wrong; resolve() decides drift (a repairer has a diff) or failed.
  bool mismatch = false;
  std::vector<Repairer> repaired_by;
};

struct HostVerification {
  std::string host;
  std::string connection;  // "ssh 10.77.0.11", "local"
  bool unreachable = false;
  std::string message;
  std::vector<CheckRow> rows;

  int count(CheckStatus s) const;
};

struct VerifyOptions : HostsOptions {
  bool probe = true;  // the end-to-end push/pull/delete from every client host
};

// The facts of one host: from its planned tasks (sysctl, docker, registry service) and, for
// a host whose docker trusts registries, reaching each one and (with `probe`) push/pull.
std::vector<Fact> plan_facts(const HostPlan& plan, const Inventory& inventory, const std::string& address, bool probe);

// Checks every task (check mode, on after a failure) and observes every fact. Wrong facts
// stay `mismatch` until resolve().
HostVerification verify_host(HostPlan& plan, HostContext& host, const std::vector<Fact>& facts);

// A wrong fact is drift when a task that repairs it (on any verified host) has a diff,
// else failed: apply would not make it right.
void resolve(std::vector<HostVerification>& hosts);

// 4 a host unreachable, 2 drift or a failure, else 0.
int verify_exit_code(const std::vector<HostVerification>& hosts);

std::string render_table(const std::vector<HostVerification>& hosts, bool verbose);
std::string render_json(const std::vector<HostVerification>& hosts, const VerifyOptions& options, int exit_code);

// Returns the exit code (1: usage or invalid input, nothing touched).
int run_verify(const VerifyOptions& options, Connector& connector, std::ostream& out, std::ostream& err);

}  // namespace rs::agent
