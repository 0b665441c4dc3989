// Opens the side-effect interfaces of one host: local (this machine, its system bus) or
// ssh (commands and files through ssh, sd-bus through ssh + systemd-stdio-bridge).
#pragma once

#include "agent/host/command_runner.hpp"
#include "agent/host/connection_settings.hpp"
#include "agent/host/files.hpp"
#include "agent/host/host_context.hpp"
#include "agent/host/systemd.hpp"

#include <atomic>
#include <functional>
#include <memory>

namespace rs::agent {

struct HostConnection {
  std::unique_ptr<Files> files;
  std::unique_ptr<CommandRunner> commands;
  std::unique_ptr<Systemd> systemd;
  std::string address;           // where a registry on this host is reached from here
  std::function<void()> close;   // ends the ssh master connection, if any
  // Asks a registry on this host for GET /v2/ (the real connector: over TCP from here).
  RegistryProbe probe_registry;
};

class Connector {
 public:
  virtual ~Connector() = default;
  // An error means the host is unreachable (exit code 4), not that it failed.
  virtual Result<HostConnection> connect(const ConnectionSettings& host) = 0;
};

// The real one. Keeps ssh master sockets in a private temp dir removed at destruction.
class TransportConnector : public Connector {
 public:
  TransportConnector();
  ~TransportConnector() override;
  Result<HostConnection> connect(const ConnectionSettings& host) override;

 private:
  std::string control_dir_;  // 0700: ssh master sockets, become passwords for the bus
  std::unique_ptr<CommandRunner> local_runner_;
  std::atomic<int> secrets_{0};
};

// Opens the real systemd connection only when a module first needs it, so a host without
// a bus can still run tasks that need none (sysctl).
class LazySystemd : public Systemd {
 public:
  using Opener = std::function<Result<std::unique_ptr<Systemd>>()>;
  explicit LazySystemd(Opener open) : open_(std::move(open)) {}

  Result<std::vector<std::vector<std::string>>> exec_start(const std::string& unit) override;
  Result<UnitState> unit_state(const std::string& unit) override;
  Result<void> reload() override;
  Result<void> start(const std::string& unit) override;
  Result<void> restart(const std::string& unit) override;
  Result<void> reload_unit(const std::string& unit) override;
  Result<void> enable(const std::string& unit) override;

 private:
  Result<Systemd*> get();
  Opener open_;
  std::unique_ptr<Systemd> real_;
  std::optional<Error> failed_;
};

}  // namespace rs::agent
