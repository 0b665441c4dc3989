// `registry-setup htpasswd FILE USER`: adds or updates a user's bcrypt entry.
#pragma once

#include <string>
#include <vector>

namespace rs::registry {

int htpasswd_command(const std::vector<std::string>& args);

}  // namespace rs::registry
