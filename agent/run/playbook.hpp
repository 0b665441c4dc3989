// Playbooks: plays (a hosts pattern, tasks, handlers), each task one module with its
// arguments, `notify` naming handlers. Parsed and validated before any host is touched.
//
//   - name: docker trusts the registry
//     hosts: all
//     vars: {some_default: 1}        # defaults; inventory variables override them
//     tasks:
//       - name: add the flag
//         docker_insecure_registry: {registries: "{{ registry_addresses }}"}
//         notify: restart docker
//     serial: 2                      # optional: batches of 2 hosts (agent/run/rolling.hpp)
//     handlers:
//       - name: restart docker
//         systemd: {name: docker.service, state: restarted}
//
// "{{ var }}" alone in a value stands for the variable itself (a list stays a list);
// inside a longer string it is replaced by the variable's text.
#pragma once

#include "agent/modules/module_table.hpp"
#include "agent/run/inventory.hpp"
#include "agent/run/problem.hpp"
#include "agent/run/rolling.hpp"

#include <memory>
#include <string>
#include <vector>

namespace rs::agent {

struct TaskSpec {
  std::string name;
  std::string module;
  YAML::Node args;
  std::vector<std::string> notify;
  int line = 0;
  std::string key;  // "plays[0].tasks[1]"
};

struct Play {
  std::string name;
  std::string hosts;
  Vars vars;
  std::vector<TaskSpec> tasks;
  std::vector<TaskSpec> handlers;
  Rolling rolling;  // serial, max_fail_percentage
  int line = 0;
};

struct Playbook {
  std::string file;
  std::vector<Play> plays;

  // `path` kBuiltinPlaybook is the copy built into the binary.
  static Result<Playbook> load(const std::string& path, Problems& problems);
  static Result<Playbook> parse(const std::string& text, const std::string& file, Problems& problems);
};

// A task bound to one host: its templated arguments made into an action.
struct PlannedTask {
  const TaskSpec* spec = nullptr;
  std::unique_ptr<Action> action;
};

struct PlannedPlay {
  const Play* play = nullptr;
  std::vector<PlannedTask> tasks;
  std::vector<PlannedTask> handlers;
};

struct HostPlan {
  const InventoryHost* host = nullptr;
  std::vector<PlannedPlay> plays;
};

// Binds every play to every selected host it matches; all problems (unknown variables,
// bad argument values for this host) are listed with the playbook's file and line.
Result<std::vector<HostPlan>> plan(const Playbook& playbook, const Inventory& inventory,
                                   const std::vector<std::string>& selected, Problems& problems);

// Replaces "{{ name }}" references with variables; unknown names become errors.
Result<YAML::Node> render(const YAML::Node& node, const Vars& vars);

}  // namespace rs::agent
