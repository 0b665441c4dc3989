#include "agent/host/host_context.hpp"

#include <algorithm>

namespace rs::agent {

bool is_unit_file_path(const std::string& path) {
  for (const char* dir : {"/etc/systemd/system/", "/etc/systemd/system.control/", "/run/systemd/system/",
                          "/run/systemd/system.control/", "/run/systemd/transient/", "/usr/local/lib/systemd/system/",
                          "/lib/systemd/system/", "/usr/lib/systemd/system/"})
    if (path.rfind(dir, 0) == 0) return true;
  return false;
}

void HostContext::note_write(const std::string& path) {
  if (is_unit_file_path(path)) ++unit_writes_;
}

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
  // Counted before the write: a write that fails halfway may have changed the file.
  note_write(path);
  return files_.write(path, content, mode);
}

Result<std::vector<std::string>> HostContext::restore_files() {
  std::vector<std::string> restored;
  for (auto it = written_.rbegin(); it != written_.rend(); ++it) {
    note_write(it->path);
    auto r = it->before ? files_.write(it->path, *it->before, it->mode) : files_.remove(it->path);
    if (!r) return r.error().with_context("restore '" + it->path + "'");
    restored.push_back(it->path);
  }
  written_.clear();
  return restored;
}

Result<void> HostContext::daemon_reload() {
  const int writes = unit_writes_;
  if (auto r = systemd_.reload(); !r) return r;
  unit_writes_at_reload_ = writes;
  return ok();
}

}  // namespace rs::agent
