// Everything a module may touch on one host, plus what this run changed there.
#pragma once

#include "agent/host/command_runner.hpp"
#include "agent/host/files.hpp"
#include "agent/run/inventory.hpp"
#include "agent/host/systemd.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

inline constexpr const char* kStateDir = "/var/lib/registry-setup";

// Answers whether a registry serves GET /v2/ at host:port (see http_probe.hpp).
using RegistryProbe = std::function<Result<void>(const std::string& host, int port)>;

class HostContext {
 public:
  HostContext(std::string name, std::string address, Files& files, CommandRunner& commands, Systemd& systemd,
              std::string run_id)
      : name_(std::move(name)), address_(std::move(address)), files_(files), commands_(commands),
        systemd_(systemd), run_id_(std::move(run_id)) {}

  const std::string& name() const { return name_; }
  // Where the control machine reaches the host (127.0.0.1 for a local host).
  const std::string& address() const { return address_; }
  Files& files() { return files_; }
  CommandRunner& commands() { return commands_; }
  Systemd& systemd() { return systemd_; }

  // Backs the current file up under kStateDir/backups/<run>/ (once per run), then writes
  // atomically; remembers the first version for restore_files().
  Result<void> write_file(const std::string& path, const std::string& content, unsigned mode);
  // Puts back every file this run wrote (removing those that did not exist).
  Result<std::vector<std::string>> restore_files();

  struct Written {
    std::string path;
    std::optional<std::string> before;
    unsigned mode = 0644;  // as this run wrote it; the restore uses it too
  };
  const std::vector<Written>& written() const { return written_; }

  // Set when a unit file or drop-in changed, so the systemd module reloads.
  bool unit_files_changed = false;
  RegistryProbe probe_registry;
  int probe_attempts = 10;  // 300 ms apart
  // Path of the registry-setup binary to copy to hosts.
  std::string self_binary = "/proc/self/exe";

 private:
  std::string name_;
  std::string address_;
  Files& files_;
  CommandRunner& commands_;
  Systemd& systemd_;
  std::string run_id_;
  std::vector<Written> written_;
};

}  // namespace rs::agent
