// registry_service: the built-in registry as a systemd service (`registry-setup serve`,
// Type=notify, Restart=always), the binary copied to the host when it differs, enabled,
// started, then GET /v2/ must answer. The secure variant: TLS (a certificate from the
// control machine's own authority, or given files), users (htpasswd, bcrypt) with access
// rules, Basic or token auth; then the unit runs `serve --config` on a config file written
// here and checked by the registry's own parser first.
#pragma once

#include "agent/modules/action.hpp"
#include "agent/modules/params.hpp"

namespace rs::agent {

enum class RegistryTls { none, self_signed, files };

// A user of the registry: a password (a file on the control machine holding it, or its
// bcrypt hash) and the actions granted per repository pattern.
struct RegistryUser {
  std::string name;
  std::string password_file;  // on the control machine; the first line is the password
  std::string password_hash;  // or a bcrypt hash given as is
  std::vector<std::pair<std::string, std::string>> access;  // pattern, "pull,push,delete"
};

struct RegistryServiceConfig {
  int port = 5000;
  std::string root = "/var/lib/registry";
  std::string listen = "0.0.0.0";
  std::string unit = "registry-setup-registry.service";
  std::string binary = "/usr/local/bin/registry-setup";
  bool probe = true;

  RegistryTls tls = RegistryTls::none;
  std::string tls_dir;          // self_signed: the authority's directory on the control machine
  std::string tls_certificate;  // files: certificate (chain) and key on the control machine
  std::string tls_key;
  std::string tls_ca;           // files: the CA clients trust (default: the certificate)
  std::vector<RegistryUser> users;
  std::vector<std::string> anonymous;  // repository patterns anyone may pull
  std::string auth = "basic";          // or "token": the registry is its own token server
  std::string config_dir = "/etc/registry-setup";

  bool secure() const { return tls != RegistryTls::none || !users.empty(); }
  std::string config_path() const { return config_dir + "/registry.yml"; }
  std::string htpasswd_path() const { return config_dir + "/htpasswd"; }
  std::string certificate_path() const { return config_dir + "/tls/registry.crt"; }
  std::string key_path() const { return config_dir + "/tls/registry.key"; }
  std::string token_key_path() const { return config_dir + "/token.key"; }
};

// The CA (PEM) the clients of a registry with this config trust, read (self_signed: made) on
// the control machine; empty without TLS.
Result<std::string> registry_client_ca(const RegistryServiceConfig& config, const ControlMachine& control);

class RegistryServiceAction : public Action {
 public:
  explicit RegistryServiceAction(RegistryServiceConfig config) : config_(std::move(config)) {}

  Result<Diff> check(HostContext& host) override;
  Result<void> apply(HostContext& host, const Diff& diff) override;
  std::string summary() const override;
  std::vector<Fact> facts(const FactScope& scope) const override;

  const RegistryServiceConfig& config() const { return config_; }
  std::string unit_file() const;
  // The registry's config file (secure variant), checked by the registry's parser.
  Result<std::string> config_file() const;
  std::string unit_path() const { return "/etc/systemd/system/" + config_.unit; }

 private:
  // The secure variant's files: certificate and key, htpasswd, config.
  Result<void> check_tls(HostContext& host, Diff& diff) const;
  Result<void> check_users(HostContext& host, Diff& diff) const;

  RegistryServiceConfig config_;
};

std::unique_ptr<Action> make_registry_service_action(Params& params);

// The registry unit active and enabled.
Fact registry_unit_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host);
// GET /v2/ on the registry host's own address answers with the registry header.
Fact registry_answers_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                           const std::string& host);
// The storage directory exists and is writable.
Fact registry_storage_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host);
// TLS: the certificate on the host valid for its address for kRenewDays more.
Fact registry_certificate_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                               const std::string& host);
// With users: a push without credentials is refused (401).
Fact registry_closed_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                          const std::string& host);

// Where a docker host keeps the CA it trusts for `registry` ("host:port").
std::string docker_ca_path(const std::string& registry);

}  // namespace rs::agent
