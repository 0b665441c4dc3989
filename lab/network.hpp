// The lab's network: its namespaces, the switch's bridge and a veth pair per host, all
// made with `ip` (argv, never a shell) inside the lab's own namespaces.
#pragma once

#include "core/result.hpp"
#include "lab/plan.hpp"

#include <functional>
#include <string>
#include <vector>

namespace rs::lab {

// Creates every namespace of the plan (calling `created` after each, so the caller can
// record it before the next step), the bridge, the ports, addresses and on-link routes.
// Every namespace starts with ip_forward 0 and lo up; none gets a default route.
Result<void> create_network(const LabPlan& plan, const std::function<Result<void>(const std::string&)>& created);

// Deletes a network namespace (its veth ends go with it); ok when it does not exist.
Result<void> delete_netns(const std::string& netns);

// The namespaces on the machine named as the lab's ("rslab-NAME." and "rslab-NAME_": lab
// names hold no '.' or '_', so these belong to this lab alone).
std::vector<std::string> lab_netns_on_machine(const std::string& lab_name);

}  // namespace rs::lab
