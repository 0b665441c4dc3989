// Everything a module may touch on one host, what the control machine lends it, and what
// this run changed there.
#pragma once

#include "agent/host/command_runner.hpp"
#include "agent/host/files.hpp"
#include "agent/host/systemd.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

inline constexpr const char* kStateDir = "/var/lib/registry-setup";

// Answers whether a registry serves GET /v2/ at host:port, over TLS trusting `ca_pem` when
// that is not empty (see http_probe.hpp).
using RegistryProbe = std::function<Result<void>(const std::string& host, int port, const std::string& ca_pem)>;

// What the control machine (where registry-setup runs) lends every host's modules.
struct ControlMachine {
  Files* files = nullptr;                       // its own files: the binary copied to hosts
  std::string self_binary = "/proc/self/exe";  // the registry-setup binary to copy
  RegistryProbe probe_registry;                 // GET /v2/ from here; empty: not probed
  int probe_attempts = 10;                      // 300 ms apart
};

// Whether systemd reads unit files from this path (its system unit search path).
bool is_unit_file_path(const std::string& path);

class HostContext {
 public:
  HostContext(std::string name, std::string address, Files& files, CommandRunner& commands, Systemd& systemd,
              std::string run_id, const ControlMachine& control)
      : name_(std::move(name)), address_(std::move(address)), files_(files), commands_(commands),
        systemd_(systemd), run_id_(std::move(run_id)), control_(control) {}
  // Held by reference: it must outlive the context, so no temporary.
  HostContext(std::string, std::string, Files&, CommandRunner&, Systemd&, std::string, ControlMachine&&) = delete;

  const std::string& name() const { return name_; }
  // Where the control machine reaches the host (127.0.0.1 for a local host).
  const std::string& address() const { return address_; }
  Files& files() { return files_; }
  CommandRunner& commands() { return commands_; }
  Systemd& systemd() { return systemd_; }
  const ControlMachine& control() const { return control_; }

  // Backs the current file up under kStateDir/backups/<run>/ (once per run), then writes
  // atomically; remembers the first version for restore_files().
  Result<void> write_file(const std::string& path, const std::string& content, unsigned mode);
  // Puts back every file this run wrote (removing those that did not exist).
  Result<std::vector<std::string>> restore_files();

  // daemon-reload; afterwards unit_files_changed() is false until a unit file is written again.
  Result<void> daemon_reload();
  // Whether this run wrote or restored a unit file since its last daemon_reload().
  bool unit_files_changed() const { return unit_writes_ != unit_writes_at_reload_; }

  struct Written {
    std::string path;
    std::optional<std::string> before;
    unsigned mode = 0644;  // as this run wrote it; the restore uses it too
  };
  const std::vector<Written>& written() const { return written_; }

 private:
  void note_write(const std::string& path);

  std::string name_;
  std::string address_;
  Files& files_;
  CommandRunner& commands_;
  Systemd& systemd_;
  std::string run_id_;
  const ControlMachine& control_;
  std::vector<Written> written_;
  int unit_writes_ = 0;
  int unit_writes_at_reload_ = 0;
};

}  // namespace rs::agent
