#include "agent/run/builtin_playbook.hpp"

#include <filesystem>
#include <system_error>

namespace rs::agent {
namespace {

// Generated from playbooks/site.yml by agent/CMakeLists.txt.
constexpr std::string_view kText =
#include "agent/run/builtin_playbook.inc"
    ;

}  // namespace

std::string default_playbook_path() {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share/registry-setup/playbooks/site.yml";
    if (fs::is_regular_file(installed, ec)) return installed.string();
  }
  return std::string(kBuiltinPlaybook);
}

std::string_view builtin_playbook_text() { return kText; }

}  // namespace rs::agent
