// The default playbook (playbooks/site.yml): the installed copy beside the binary when there
// is one, else the copy compiled into the binary. Never a path of the build tree.
#pragma once

#include <string>
#include <string_view>

namespace rs::agent {

// What `--playbook` defaults to when no installed copy exists: the built-in text's name.
inline constexpr std::string_view kBuiltinPlaybook = "(built in) playbooks/site.yml";

// <prefix>/share/registry-setup/playbooks/site.yml for a binary in <prefix>/bin (the
// install prefix found from the executable's own path), else kBuiltinPlaybook.
std::string default_playbook_path();

// playbooks/site.yml as it was when the binary was built.
std::string_view builtin_playbook_text();

}  // namespace rs::agent
