#include "agent/host/host_context.hpp"

#include <algorithm>

namespace rs::agent {

Result<void> HostContext::write_file(const std::string& path, const std::string& content, unsigned mode) {
  bool seen = std::any_of(written_.begin(), written_.end(), [&](const Written& w) { return w.path == path; });
  if (!seen) {
    auto before = files_.read(path);
    if (!before) return before.error();
    // Backups keep the full path under the run's directory: backups/<run>/etc/docker/daemon.json.
    if (*before) {
      auto backup = std::string(kStateDir) + "/backups/" + run_id_ + path;
      if (auto r = files_.write(backup, **before, 0600); !r) return r.error().with_context("back up '" + path + "'");
    }
    written_.push_back(Written{path, *before, mode});
  }
  if (path.rfind("/etc/systemd/system/", 0) == 0) unit_files_changed = true;
  return files_.write(path, content, mode);
}

Result<std::vector<std::string>> HostContext::restore_files() {
  std::vector<std::string> restored;
  for (auto it = written_.rbegin(); it != written_.rend(); ++it) {
    auto r = it->before ? files_.write(it->path, *it->before, it->mode) : files_.remove(it->path);
    if (!r) return r.error().with_context("restore '" + it->path + "'");
    if (it->path.rfind("/etc/systemd/system/", 0) == 0) unit_files_changed = true;
    restored.push_back(it->path);
  }
  written_.clear();
  return restored;
}

}  // namespace rs::agent
