// A small reading of an Ansible YAML inventory: just what a lab needs, the host names and
// their `ansible_host` addresses. (The agent's inventory parser reads everything else.)
#pragma once

#include "core/result.hpp"

#include <string>
#include <vector>

namespace rs::lab {

struct LabHost {
  std::string name;     // the inventory host name, e.g. "host-a"
  std::string address;  // ansible_host as dotted IPv4, e.g. "192.168.1.11"
};

// Reads `all`, nested `children`, `hosts`, and host or group `ansible_host`. A host listed
// in several groups appears once, in the order first seen. Every problem is reported in one
// Error (Errc::invalid_argument), each line naming the file, line and key.
Result<std::vector<LabHost>> read_lab_inventory_text(const std::string& text, const std::string& file_name);
Result<std::vector<LabHost>> read_lab_inventory(const std::string& path);

}  // namespace rs::lab
