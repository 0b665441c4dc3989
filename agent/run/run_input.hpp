// What apply and verify act on: the inventory, the playbook and each selected host's plan,
// all parsed and validated before any host is touched.
#pragma once

#include "agent/run/inventory.hpp"
#include "agent/run/playbook.hpp"
#include "agent/run/problem.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace rs::agent {

// The options apply and verify share: what to run on, and how.
struct HostsOptions {
  std::vector<std::string> inventory;   // sources (files or directories), in order
  std::vector<std::string> extra_vars;  // -e, in order: later ones win
  std::string playbook;
  std::string limit;  // --limit PATTERN; empty: every host
  int forks = 5;      // hosts at a time
  bool json = false;
  int verbosity = 0;
  std::string self_binary = "/proc/self/exe";  // the binary registry hosts get
};

struct RunInput {
  // Owned through pointers: the plans point into both.
  std::unique_ptr<Inventory> inventory;
  std::unique_ptr<Playbook> playbook;
  std::vector<HostPlan> plans;
};

// Loads and validates everything; every problem found is added to `problems` (then the
// result is incomplete and must not be acted on).
RunInput load_run_input(const HostsOptions& options, Problems& problems);

// "registry-setup CMD: nothing was changed; N problems:" and one line each on `err`; with
// `json` also {"exit_code": 1, "problems": [...]} on `out`.
void print_problems(const std::string& command, const Problems& problems, bool json, std::ostream& out,
                    std::ostream& err);

// load_run_input(), or the problems printed (print_problems) and nothing.
std::optional<RunInput> load_or_report(const std::string& command, const HostsOptions& options, std::ostream& out,
                                       std::ostream& err);

// The inventory sources for JSON output: one name, or the list of them.
nlohmann::json inventory_json(const HostsOptions& options);

// --list-hosts: each play with the hosts it would run on (as ansible-playbook prints them,
// or JSON); 0, or 1 with the problems printed.
int run_list_hosts(const HostsOptions& options, std::ostream& out, std::ostream& err);
// --syntax-check: inventory and playbook validated; 0 or 1.
int run_syntax_check(const HostsOptions& options, std::ostream& out, std::ostream& err);

// How progress lines name a host's transport: "local" or "ssh ADDRESS".
std::string connection_label(const ConnectionSettings& host);

// Calls work(i) once for each i in [0, count), on at most `forks` threads: hosts in parallel.
void for_each_host(std::size_t count, int forks, const std::function<void(std::size_t)>& work);

}  // namespace rs::agent
