// The modules a playbook task may name, each with the function that builds its action.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/params.hpp"

#include <memory>
#include <string>
#include <vector>

namespace rs::agent {

struct ModuleInfo {
  std::string name;
  // Builds the action from its arguments, or returns null after adding problems.
  std::unique_ptr<Action> (*make)(Params& params);
};

const std::vector<ModuleInfo>& modules();
const ModuleInfo* find_module(const std::string& name);

}  // namespace rs::agent
