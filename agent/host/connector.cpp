#include "agent/host/connector.hpp"

#include "agent/host/http_probe.hpp"

#include "agent/host/command_files.hpp"
#include "agent/host/local_files.hpp"
#include "agent/host/process_command_runner.hpp"
#include "agent/host/sd_bus_systemd.hpp"
#include "agent/host/ssh_command_runner.hpp"

#include <stdlib.h>

#include <filesystem>

namespace rs::agent {

Result<Systemd*> LazySystemd::get() {
  if (real_) return real_.get();
  if (failed_) return *failed_;
  auto opened = open_();
  if (!opened) {
    failed_ = opened.error();
    return opened.error();
  }
  real_ = std::move(*opened);
  return real_.get();
}

#define RS_FORWARD(call)            \
  auto s = get();                   \
  if (!s) return s.error();         \
  return (*s)->call

Result<std::vector<std::vector<std::string>>> LazySystemd::exec_start(const std::string& unit) { RS_FORWARD(exec_start(unit)); }
Result<UnitState> LazySystemd::unit_state(const std::string& unit) { RS_FORWARD(unit_state(unit)); }
Result<void> LazySystemd::reload() { RS_FORWARD(reload()); }
Result<void> LazySystemd::start(const std::string& unit) { RS_FORWARD(start(unit)); }
Result<void> LazySystemd::restart(const std::string& unit) { RS_FORWARD(restart(unit)); }
Result<void> LazySystemd::enable(const std::string& unit) { RS_FORWARD(enable(unit)); }

#undef RS_FORWARD

TransportConnector::TransportConnector() : local_runner_(std::make_unique<ProcessCommandRunner>()) {
  // Short path: a unix socket path holds at most 107 bytes and %C adds 40.
  char dir[] = "/tmp/rs-ssh-XXXXXX";
  if (::mkdtemp(dir)) control_dir_ = dir;
}

TransportConnector::~TransportConnector() {
  if (control_dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(control_dir_, ec);
}

Result<HostConnection> TransportConnector::connect(const ConnectionSettings& host) {
  HostConnection c;
  c.probe_registry = [](const std::string& address, int port, const std::string& ca_pem) {
    return probe_registry(address, port, ca_pem);
  };
  if (host.connection == Connection::local) {
    c.files = std::make_unique<LocalFiles>("/");
    c.commands = std::make_unique<ProcessCommandRunner>();
    c.systemd = std::make_unique<LazySystemd>([]() -> Result<std::unique_ptr<Systemd>> {
      auto s = SdBusSystemd::open_system();
      if (!s) return s.error();
      return std::unique_ptr<Systemd>(std::move(*s));
    });
    c.address = host.address_given ? host.address : "127.0.0.1";
    return c;
  }
  SshTarget target{host.address, host.user, host.port, host.private_key_file, host.ssh_common_args, control_dir_};
  auto runner = std::make_unique<SshCommandRunner>(*local_runner_, target);
  // Reachability first: this also opens the master connection the rest reuses.
  auto probe = runner->run({"true"}, {}, std::chrono::seconds(30));
  if (!probe) return probe.error();
  if (probe->exit_code != 0)
    return make_error(Errc::unavailable, "ssh '" + host.address + "': 'true' exited " + std::to_string(probe->exit_code));
  auto bus_argv = ssh_argv(target);
  bus_argv.insert(bus_argv.begin() + 1, "-xT");
  auto* raw = runner.get();
  c.close = [raw] { raw->close(); };
  c.files = std::make_unique<CommandFiles>(*runner);
  c.commands = std::move(runner);
  c.systemd = std::make_unique<LazySystemd>([address = ssh_bus_address(bus_argv)]() -> Result<std::unique_ptr<Systemd>> {
    auto s = SdBusSystemd::open_address(address);
    if (!s) return s.error().with_context("systemd over ssh");
    return std::unique_ptr<Systemd>(std::move(*s));
  });
  c.address = host.address;
  return c;
}

}  // namespace rs::agent
