// sysctl: a kernel parameter live (/proc/sys) and persisted in a file of its own under
// /etc/sysctl.d/; warns when a later file or /etc/sysctl.conf overrides it.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/params.hpp"

namespace rs::agent {

class SysctlAction : public Action {
 public:
  SysctlAction(std::string key, std::string value, std::string file)
      : key_(std::move(key)), value_(std::move(value)), file_(std::move(file)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override { return key_ + " = " + value_; }
  std::vector<Fact> facts(const FactScope& scope) const override;

  const std::string& key() const { return key_; }
  const std::string& value() const { return value_; }
  const std::string& file() const { return file_; }

 private:
  std::string desired_file(const std::optional<std::string>& current) const;

  std::string key_;
  std::string value_;
  std::string file_;
};

inline constexpr const char* kSysctlFile = "/etc/sysctl.d/90-registry-setup.conf";

std::unique_ptr<Action> make_sysctl_action(Params& params);

// Where the kernel shows a parameter: net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward.
std::string sysctl_proc_path(const std::string& key);

// The kernel's value now (/proc/sys).
Fact sysctl_live_fact(const SysctlAction& action, const std::string& task, const std::string& host);
// The value set by the file applied last at boot, and which file that is.
Fact sysctl_boot_fact(const SysctlAction& action, const std::string& task, const std::string& host);

// The value a sysctl.conf-format text sets for key, if any (the last assignment wins).
std::optional<std::string> sysctl_setting(const std::string& text, const std::string& key);

// Blanks collapsed to one space: kernel values separate fields with tabs, files with any blanks.
std::string normalize_sysctl_value(const std::string& value);

// A file that sets the key at boot, and the value it sets.
struct SysctlSource {
  std::string path;
  std::string value;
};

// Every file that sets `key` at boot, in the order they are applied: /etc/sysctl.d,
// /run/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d merged by file name (/etc shadows the
// same name elsewhere), then /etc/sysctl.conf. The last one wins.
Result<std::vector<SysctlSource>> sysctl_sources(Files& files, const std::string& key);

}  // namespace rs::agent
