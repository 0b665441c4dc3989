// Systemd over libsystemd's sd-bus; the sd-bus headers stay in the .cpp.
#pragma once

#include "agent/host/systemd.hpp"

#include <chrono>
#include <memory>

struct sd_bus;

namespace rs::agent {

class SdBusSystemd : public Systemd {
 public:
  // This machine's system bus.
  static Result<std::unique_ptr<SdBusSystemd>> open_system();
  // An explicit bus address: "unix:path=/proc/PID/root/run/dbus/system_bus_socket", or
  // "unixexec:..." as built by ssh_bus_address().
  static Result<std::unique_ptr<SdBusSystemd>> open_address(const std::string& address);

  ~SdBusSystemd() override;
  SdBusSystemd(const SdBusSystemd&) = delete;
  SdBusSystemd& operator=(const SdBusSystemd&) = delete;

  Result<std::vector<std::vector<std::string>>> exec_start(const std::string& unit) override;
  Result<UnitState> unit_state(const std::string& unit) override;
  Result<void> reload() override;
  Result<void> start(const std::string& unit) override;
  Result<void> restart(const std::string& unit) override;
  Result<void> reload_unit(const std::string& unit) override;
  Result<void> enable(const std::string& unit) override;

  void set_job_timeout(std::chrono::milliseconds t) { job_timeout_ = t; }

 private:
  explicit SdBusSystemd(sd_bus* bus) : bus_(bus) {}
  Result<std::string> unit_path(const std::string& unit);
  Result<void> run_job(const char* method, const std::string& unit);
  void reset_failed(const std::string& unit);

  sd_bus* bus_;
  std::chrono::milliseconds job_timeout_{std::chrono::minutes(3)};
};

// The address sd_bus_open_system_remote() builds ("unixexec:path=ssh,...,systemd-stdio-
// bridge"), but with our ssh options (BatchMode, ControlPath, key, port) in the argv.
// `ssh_argv` is the ssh command up to and including the destination.
std::string ssh_bus_address(const std::vector<std::string>& ssh_argv);
// "unixexec:path=ARGV0,argv0=...": sd-bus runs argv and speaks D-Bus on its stdin/stdout.
std::string unixexec_address(const std::vector<std::string>& argv);

}  // namespace rs::agent
