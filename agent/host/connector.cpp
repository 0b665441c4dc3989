#include "agent/host/connector.hpp"

#include "agent/host/http_probe.hpp"

#include "agent/host/become.hpp"
#include "agent/host/command_files.hpp"
#include "agent/host/local_files.hpp"
#include "agent/host/process_command_runner.hpp"
#include "agent/host/sd_bus_systemd.hpp"
#include "agent/host/ssh_command_runner.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

namespace rs::agent {
namespace {

// A file of `text` readable by this user alone.
Result<void> write_secret(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::io, "cannot create '" + path + "'");
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written) return make_error(Errc::io, "cannot write '" + path + "'");
  return ok();
}

}  // namespace

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
Result<void> LazySystemd::reload_unit(const std::string& unit) { RS_FORWARD(reload_unit(unit)); }
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
    // Locally the tool already runs as whoever started it: sudo registry-setup, not become.
    if (host.become && ::geteuid() != 0)
      return make_error(Errc::unsupported, "'" + host.name + "': ansible_become with ansible_connection local: run "
                                           "registry-setup itself as root (sudo registry-setup apply ...)");
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
  auto ssh = std::make_unique<SshCommandRunner>(*local_runner_, target);
  // Reachability first: this also opens the master connection the rest reuses.
  auto probe = ssh->run({"true"}, {}, std::chrono::seconds(30));
  if (!probe) return probe.error();
  if (probe->exit_code != 0)
    return make_error(Errc::unavailable, "ssh '" + host.address + "': 'true' exited " + std::to_string(probe->exit_code));
  auto* raw = ssh.get();
  c.close = [raw] { raw->close(); };
  auto bus_argv = ssh_argv(target);
  bus_argv.insert(bus_argv.begin() + 1, "-xT");
  std::string address, secret;
  if (!host.become) {
    c.commands = std::move(ssh);
    address = ssh_bus_address(bus_argv);
  } else {
    auto become = BecomeCommandRunner::open(std::move(ssh), host.become_user, host.become_password, host.name);
    if (!become) return become.error();
    // The bridge runs under sudo too; ssh joins its words with blanks, so it gets one string.
    bus_argv.push_back(shell_join((*become)->wrap({"systemd-stdio-bridge"})));
    if (auto& password = (*become)->password()) {
      // sudo reads its password line first: sent ahead of the D-Bus stream from a file only
      // this process can read, removed when the connector goes.
      secret = control_dir_ + "/become-" + std::to_string(++secrets_);
      if (auto w = write_secret(secret, *password + "\n"); !w) return w.error();
      std::error_code ec;
      auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (ec) return make_error(Errc::internal, "cannot find this program's path: " + ec.message());
      std::vector<std::string> prepend = {self.string(), kPrependStdin, secret};
      prepend.insert(prepend.end(), bus_argv.begin(), bus_argv.end());
      address = unixexec_address(prepend);
    } else {
      address = unixexec_address(bus_argv);
    }
    c.commands = std::move(*become);
  }
  c.files = std::make_unique<CommandFiles>(*c.commands);
  c.systemd = std::make_unique<LazySystemd>([address, secret]() -> Result<std::unique_ptr<Systemd>> {
    auto s = SdBusSystemd::open_address(address);
    // Open means sudo has read the password (the bridge answered): the file has done its work.
    if (!secret.empty()) ::unlink(secret.c_str());
    if (!s) return s.error().with_context("systemd over ssh");
    return std::unique_ptr<Systemd>(std::move(*s));
  });
  c.address = host.address;
  return c;
}

}  // namespace rs::agent
