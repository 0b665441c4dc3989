#include "agent/modules/registry_service_module.hpp"

#include "agent/modules/host_probes.hpp"
#include "agent/modules/registry_tls.hpp"
#include "agent/modules/unit_jobs.hpp"
#include "registry/access.hpp"
#include "registry/config.hpp"
#include "registry/htpasswd.hpp"

#include <algorithm>
#include <thread>

namespace rs::agent {

using namespace std::chrono_literals;

namespace {

// bcrypt cost of the hashes made here: registry:2's htpasswd default, tens of ms per check.
constexpr int kBcryptCost = 10;
constexpr std::size_t kMaxPasswordBytes = 72;  // bcrypt reads no further

bool is_secret(const std::string& path, const RegistryServiceConfig& c) {
  return path == c.key_path() || path == c.htpasswd_path();
}

// The names a client uses for the host: its address, then its inventory name.
std::vector<std::string> certificate_names(const HostContext& host) {
  std::vector<std::string> names = {host.address()};
  if (host.name() != host.address()) names.push_back(host.name());
  return names;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

std::string docker_ca_path(const std::string& registry) { return "/etc/docker/certs.d/" + registry + "/ca.crt"; }

Result<std::string> registry_client_ca(const RegistryServiceConfig& c, const ControlMachine& control) {
  switch (c.tls) {
    case RegistryTls::none: return std::string();
    case RegistryTls::self_signed: {
      auto ca = ensure_certificate_authority(c.tls_dir);
      if (!ca) return ca.error().with_context("registry_tls_dir");
      return ca->certificate_pem;
    }
    case RegistryTls::files: {
      const std::string& path = c.tls_ca.empty() ? c.tls_certificate : c.tls_ca;
      return control_file(control, path, c.tls_ca.empty() ? "registry_tls_certificate" : "registry_tls_ca");
    }
  }
  return std::string();
}

std::string RegistryServiceAction::summary() const {
  return config_.unit + " on " + config_.listen + ":" + std::to_string(config_.port) + ", data in " + config_.root;
}

std::string RegistryServiceAction::unit_file() const {
  const auto& c = config_;
  return "# Managed by registry-setup: the built-in v2 registry.\n"
         "[Unit]\n"
         "Description=registry-setup built-in Docker registry on port " + std::to_string(c.port) + "\n"
         "After=network-online.target\n"
         "Wants=network-online.target\n"
         "\n"
         "[Service]\n"
         "Type=notify\n"
         "ExecStartPre=/bin/mkdir -p " + c.root + "\n"
         "ExecStart=" + c.binary +
             (c.secure() ? " serve --config " + c.config_path()
                         : " serve --listen " + c.listen + ":" + std::to_string(c.port) + " --root " + c.root) +
             "\n"
         // The certificate and key are read again on SIGHUP.
         + (c.tls != RegistryTls::none ? "ExecReload=/bin/kill -HUP $MAINPID\n" : "") +
         "Restart=always\n"
         // The server sizes its connections to the open-file limit: 4096 need ~8300.
         "LimitNOFILE=65536\n"
         "RestartSec=2\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n";
}

Result<std::string> RegistryServiceAction::config_file() const {
  const auto& c = config_;
  std::string y = "# Managed by registry-setup: the built-in registry's configuration.\n"
                  "version: 0.1\n"
                  "http:\n"
                  "  addr: " + quoted(c.listen + ":" + std::to_string(c.port)) + "\n";
  if (c.tls != RegistryTls::none)
    y += "  tls:\n"
         "    certificate: " + c.certificate_path() + "\n"
         "    key: " + c.key_path() + "\n";
  y += "storage:\n"
       "  filesystem:\n"
       "    rootdirectory: " + c.root + "\n";
  if (!c.users.empty()) {
    y += "auth:\n"
         "  htpasswd:\n"
         "    realm: registry-setup\n"
         "    path: " + c.htpasswd_path() + "\n";
    if (c.auth == "token")
      y += "  token:\n"
           "    service: registry-setup\n"
           "    issuer: registry-setup\n"
           "    signingkey: " + c.token_key_path() + "\n";
    y += "access:\n"
         "  rules:\n";
    for (const auto& pattern : c.anonymous) y += "    - {repository: " + quoted(pattern) + ", anonymous: [pull]}\n";
    for (const auto& u : c.users)
      for (const auto& [pattern, actions] : u.access)
        y += "    - {repository: " + quoted(pattern) + ", users: {" + quoted(u.name) + ": [" + actions + "]}}\n";
  }
  // What the registry would refuse at its start is refused here, before anything changes.
  auto parsed = registry::parse_config(y, c.config_path());
  if (!parsed) return parsed.error().with_context("the registry's config");
  return y;
}

Result<void> RegistryServiceAction::check_tls(HostContext& host, Diff& diff) const {
  const auto& c = config_;
  auto have_cert = host.files().read(c.certificate_path());
  if (!have_cert) return have_cert.error();
  auto have_key = host.files().read(c.key_path());
  if (!have_key) return have_key.error();
  KeyPair want;
  if (c.tls == RegistryTls::self_signed) {
    auto ca = ensure_certificate_authority(c.tls_dir);
    if (!ca) return ca.error().with_context("registry_tls_dir");
    const auto names = certificate_names(host);
    // The certificate on the host stays while it is good: no new key on every run.
    if (*have_cert && *have_key &&
        judge_server_certificate(KeyPair{**have_cert, **have_key}, ca->certificate_pem, names).empty())
      return ok();
    auto issued = issue_server_certificate(*ca, names);
    if (!issued) return issued.error();
    want = std::move(*issued);
  } else {
    auto cert = control_file(host.control(), c.tls_certificate, "registry_tls_certificate");
    if (!cert) return cert.error();
    auto key = control_file(host.control(), c.tls_key, "registry_tls_key");
    if (!key) return key.error();
    want = KeyPair{*cert, *key};
    auto ca = registry_client_ca(c, host.control());
    if (!ca) return ca.error();
    // Files are used as given; what is wrong with them is said, not repaired.
    if (auto why = judge_server_certificate(want, *ca, {host.address()}); !why.empty())
      diff.warnings.push_back("'" + c.tls_certificate + "': " + why);
  }
  if (!*have_cert || **have_cert != want.certificate_pem)
    diff.files.push_back(FileChange{c.certificate_path(), *have_cert, want.certificate_pem});
  if (!*have_key || **have_key != want.key_pem)
    diff.files.push_back(FileChange{c.key_path(), *have_key ? std::optional<std::string>("") : std::nullopt, want.key_pem,
                                    /*binary=*/true});
  return ok();
}

Result<void> RegistryServiceAction::check_users(HostContext& host, Diff& diff) const {
  const auto& c = config_;
  auto have = host.files().read(c.htpasswd_path());
  if (!have) return have.error();
  // The hashes already there: a user whose password still verifies keeps its hash (a new
  // salt on every run would rewrite the file each time).
  std::map<std::string, std::string> existing;
  if (*have)
    if (auto set = registry::parse_htpasswd(**have, c.htpasswd_path()))
      for (auto& e : set->entries) existing.emplace(e.user, e.hash);
  std::string text = "# Managed by registry-setup: the registry's users (bcrypt).\n";
  for (const auto& u : c.users) {
    std::string hash = u.password_hash;
    if (hash.empty()) {
      auto secret = control_secret(host.control(), u.password_file, "password_file of user '" + u.name + "'");
      if (!secret) return secret.error();
      const std::string& password = *secret;
      if (password.size() > kMaxPasswordBytes)
        return make_error(Errc::invalid_argument, "the password of user '" + u.name + "' is over 72 bytes (bcrypt reads no further)");
      auto it = existing.find(u.name);
      if (it != existing.end() && registry::crypt_verify(password, it->second)) {
        hash = it->second;
      } else {
        auto made = registry::bcrypt_hash(password, kBcryptCost);
        if (!made) return made.error();
        hash = *made;
      }
    }
    text += u.name + ":" + hash + "\n";
  }
  if (!*have || **have != text)
    diff.files.push_back(FileChange{c.htpasswd_path(), *have ? std::optional<std::string>("") : std::nullopt, text,
                                    /*binary=*/true});
  return ok();
}

Result<Diff> RegistryServiceAction::check(HostContext& host) {
  Diff diff;
  const auto& c = config_;
  const auto& control = host.control();
  if (!control.files) return make_error(Errc::internal, "no control machine files to copy the binary from");
  auto want = control.files->sha256(control.self_binary);
  if (!want) return want.error();
  if (!*want) return make_error(Errc::not_found, "binary to install '" + control.self_binary + "' does not exist");
  auto have = host.files().sha256(c.binary);
  if (!have) return have.error();
  if (!*have || **have != **want) {
    FileChange f{c.binary, std::nullopt, "", true};
    if (*have) f.before = std::string();
    diff.files.push_back(std::move(f));
  }
  if (c.tls != RegistryTls::none)
    if (auto r = check_tls(host, diff); !r) return r.error();
  if (!c.users.empty())
    if (auto r = check_users(host, diff); !r) return r.error();
  if (c.secure()) {
    auto text = config_file();
    if (!text) return text.error();
    auto current = host.files().read(c.config_path());
    if (!current) return current.error();
    if (!*current || **current != *text) diff.files.push_back(FileChange{c.config_path(), *current, *text});
  }
  if (c.users.empty())
    diff.warnings.push_back("no registry_users: anyone who reaches " + host.address() + ":" + std::to_string(c.port) +
                            " can push, overwrite tags and delete");
  auto unit = host.files().read(unit_path());
  if (!unit) return unit.error();
  auto text = unit_file();
  if (!*unit || **unit != text) diff.files.push_back(FileChange{unit_path(), *unit, text});
  // Before the unit file exists systemd knows nothing about it: enable and start follow.
  auto state = host.systemd().unit_state(c.unit);
  if (!state) return state.error();
  if (state->unit_file_state != "enabled") diff.changes.push_back({ChangeKind::enable, "enable '" + c.unit + "'"});
  // New files for a running service: it restarts on them. The server reads a changed
  // htpasswd file by itself: new users and passwords need no restart.
  const bool reread_alone = std::all_of(diff.files.begin(), diff.files.end(),
                                        [&](const FileChange& f) { return f.path == c.htpasswd_path(); });
  const std::string start = "start '" + c.unit + "' (now " + state->active_state + ")";
  if (state->active_state != "active") diff.changes.push_back({ChangeKind::start, start});
  else if (!reread_alone) diff.changes.push_back({ChangeKind::restart, start});
  return diff;
}

Result<void> RegistryServiceAction::apply(HostContext& host, const Diff& diff) {
  const auto& control = host.control();
  for (const auto& f : diff.files) {
    if (f.path == config_.binary) {
      auto content = control.files->read(control.self_binary);
      if (!content) return content.error();
      if (!*content) return make_error(Errc::not_found, "binary '" + control.self_binary + "' vanished");
      if (auto r = host.write_file(f.path, **content, 0755); !r) return r.error();
    } else if (auto r = host.write_file(f.path, f.after, is_secret(f.path, config_) ? 0600 : 0644); !r) {
      return r.error();
    }
  }
  // systemd must read the unit file before it can enable or start the unit.
  if (auto r = run_unit_jobs(host, config_.unit, diff, /*reload_if_stale=*/true); !r) return r;
  if (config_.probe && control.probe_registry) {
    auto ca = registry_client_ca(config_, control);
    if (!ca) return ca.error();
    // Type=notify: the job is done once serve says it is ready; a few tries cover slow hosts.
    Result<void> probed = make_error(Errc::unavailable, "not probed");
    for (int i = 0; i < control.probe_attempts && !(probed = control.probe_registry(host.address(), config_.port, *ca)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (!probed) return probed.error().with_context("registry '" + config_.unit + "' started but GET /v2/");
  }
  return ok();
}

std::vector<Fact> RegistryServiceAction::facts(const FactScope& scope) const {
  std::vector<Fact> out = {registry_unit_fact(config_, scope.task, scope.host),
                           registry_answers_fact(config_, scope.address, scope.task, scope.host),
                           registry_storage_fact(config_, scope.task, scope.host)};
  if (config_.tls != RegistryTls::none) out.push_back(registry_certificate_fact(config_, scope.address, scope.task, scope.host));
  if (!config_.users.empty()) out.push_back(registry_closed_fact(config_, scope.address, scope.task, scope.host));
  return out;
}

namespace {

// A list argument of a user ("access") as (pattern, actions) pairs; problems go to params.
std::vector<std::pair<std::string, std::string>> read_access(const YAML::Node& node, const std::string& key, Params& params) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!node || node.IsNull()) return {{"**", "pull,push,delete"}};
  if (!node.IsSequence()) {
    params.problem(key, "must be a list of {repository, actions}");
    return out;
  }
  for (const auto& rule : node) {
    if (!rule.IsMap() || !rule["repository"] || !rule["repository"].IsScalar()) {
      params.problem(key, "each entry needs repository (a pattern) and actions");
      continue;
    }
    const auto pattern = rule["repository"].as<std::string>();
    std::string why;
    if (!registry::valid_pattern(pattern, &why)) params.problem(key, "'" + pattern + "': " + why);
    registry::Actions actions = 0;
    const YAML::Node list = rule["actions"];
    if (!list || !list.IsSequence() || list.size() == 0) {
      params.problem(key, "'" + pattern + "': actions must be a list of pull, push, delete");
      continue;
    }
    for (const auto& a : list) {
      auto action = a.IsScalar() ? registry::parse_action(a.as<std::string>()) : std::nullopt;
      if (!action || *action == registry::kAllActions) params.problem(key, "'" + pattern + "': actions are pull, push, delete");
      else actions |= *action;
    }
    for (auto it = rule.begin(); it != rule.end(); ++it)
      if (auto k = it->first.as<std::string>(); k != "repository" && k != "actions")
        params.problem(key, "'" + k + "' is unknown (repository, actions)");
    if (actions) out.emplace_back(pattern, registry::actions_text(actions));
  }
  return out;
}

bool valid_user_name(const std::string& name) {
  return !name.empty() && name.size() <= 128 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == std::string::npos;
}

std::vector<RegistryUser> read_users(Params& params) {
  std::vector<RegistryUser> users;
  const YAML::Node node = params.node("users");
  if (node.IsNull()) return users;
  if (!node.IsSequence()) {
    params.problem("users", "must be a list of {name, password_file or password_hash, access}");
    return users;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node u = node[i];
    const std::string key = "users[" + std::to_string(i) + "]";
    if (!u.IsMap()) {
      params.problem(key, "must be a mapping {name, password_file or password_hash, access}");
      continue;
    }
    RegistryUser user;
    auto text = [&](const char* k) { return u[k] && u[k].IsScalar() ? u[k].as<std::string>() : std::string(); };
    user.name = text("name");
    user.password_file = text("password_file");
    user.password_hash = text("password_hash");
    for (auto it = u.begin(); it != u.end(); ++it)
      if (auto k = it->first.as<std::string>(); k != "name" && k != "password_file" && k != "password_hash" && k != "access")
        params.problem(key, "'" + k + "' is unknown (name, password_file, password_hash, access)");
    if (!valid_user_name(user.name))
      params.problem(key, "name '" + user.name + "' must be 1-128 of letters, digits, '.', '_', '@', '-'");
    for (const auto& other : users)
      if (other.name == user.name) params.problem(key, "user '" + user.name + "' is listed twice");
    if (user.password_file.empty() == user.password_hash.empty())
      params.problem(key, "needs exactly one of password_file (on the control machine) and password_hash (bcrypt)");
    if (!user.password_hash.empty() && !registry::is_bcrypt(user.password_hash))
      params.problem(key, "password_hash must be a bcrypt hash ($2y$/$2b$, e.g. from `registry-setup htpasswd`)");
    user.access = read_access(u["access"], key + ".access", params);
    users.push_back(std::move(user));
  }
  return users;
}

}  // namespace

std::unique_ptr<Action> make_registry_service_action(Params& params) {
  RegistryServiceConfig c;
  c.port = params.integer("port", 1, 65535, 5000);
  c.root = params.string("root", std::string("/var/lib/registry"));
  c.listen = params.string("listen", std::string("0.0.0.0"));
  c.unit = params.string("unit", std::string("registry-setup-registry.service"));
  c.binary = params.string("binary", std::string("/usr/local/bin/registry-setup"));
  c.probe = params.boolean("probe", true);
  const auto tls = params.choice("tls", {"none", "self-signed", "files"}, std::string("none"));
  c.tls = tls == "self-signed" ? RegistryTls::self_signed : tls == "files" ? RegistryTls::files : RegistryTls::none;
  c.tls_dir = params.string("tls_dir", std::string());
  c.tls_certificate = params.string("tls_certificate", std::string());
  c.tls_key = params.string("tls_key", std::string());
  c.tls_ca = params.string("tls_ca", std::string());
  c.users = read_users(params);
  c.anonymous = params.strings("anonymous", false);
  c.auth = params.choice("auth", {"basic", "token"}, std::string("basic"));
  c.config_dir = params.string("config_dir", std::string("/etc/registry-setup"));
  params.finish();
  if (c.tls == RegistryTls::self_signed && c.tls_dir.empty()) params.problem("tls_dir", "required with tls: self-signed");
  if (c.tls == RegistryTls::files)
    for (auto [key, value] : {std::pair{"tls_certificate", &c.tls_certificate}, std::pair{"tls_key", &c.tls_key}})
      if (value->empty()) params.problem(key, "required with tls: files");
  for (const auto& pattern : c.anonymous)
    if (std::string why; !registry::valid_pattern(pattern, &why)) params.problem("anonymous", "'" + pattern + "': " + why);
  if (!c.anonymous.empty() && c.users.empty())
    params.problem("anonymous", "needs users: without any the registry is open to everyone anyway");
  if (c.auth == "token" && c.users.empty()) params.problem("auth", "token needs users");
  // docker learns how to log in from GET /v2/ alone: a 401 there (Basic) leaves anonymous
  // clients out, a 200 leaves logged-in ones without their credentials. Tokens serve both.
  if (!c.anonymous.empty() && !c.users.empty() && c.auth == "basic")
    params.problem("anonymous", "needs auth: token (with Basic auth docker either sends no credentials or lets no "
                                "anonymous client in)");
  auto safe_path = [](const std::string& p) {
    return !p.empty() && p[0] == '/' && p.find_first_of(" \t\n\"'\\%$;") == std::string::npos &&
           p.find("..") == std::string::npos;
  };
  if (!safe_path(c.root)) params.problem("root", "'" + c.root + "' must be an absolute path without blanks or quotes");
  if (!safe_path(c.binary)) params.problem("binary", "'" + c.binary + "' must be an absolute path without blanks or quotes");
  if (!safe_path(c.config_dir))
    params.problem("config_dir", "'" + c.config_dir + "' must be an absolute path without blanks or quotes");
  if (c.listen.empty() || c.listen.find_first_not_of("0123456789.:abcdef[]") != std::string::npos)
    params.problem("listen", "'" + c.listen + "' is not an IP address");
  if (!c.unit.ends_with(".service") || c.unit.find('/') != std::string::npos)
    params.problem("unit", "'" + c.unit + "' is not a .service unit name");
  if (!params.ok()) return nullptr;
  return std::make_unique<RegistryServiceAction>(std::move(c));
}

Fact registry_unit_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host) {
  const std::string unit = config.unit;
  return Fact{unit, "active, enabled", task, {{host, "registry_service"}}, [unit](HostContext& h) -> Result<Observation> {
                auto s = h.systemd().unit_state(unit);
                if (!s) return s.error();
                std::string actual = s->active_state + " (" + s->sub_state + "), " +
                                     (s->unit_file_state.empty() ? s->load_state : s->unit_file_state);
                bool good = s->active_state == "active" && s->unit_file_state == "enabled";
                return Observation{good, actual, good ? "" : unit + " is " + actual};
              }};
}

Fact registry_answers_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                           const std::string& host) {
  const std::string registry = address + ":" + std::to_string(config.port);
  const bool tls = config.tls != RegistryTls::none;
  // Over TLS with the CA this host's docker trusts: the certificate is checked as clients do.
  const std::string ca = tls ? docker_ca_path(registry) : "";
  return Fact{std::string("GET ") + (tls ? "https://" : "http://") + registry + "/v2/",
              "200/401 + Docker-Distribution-API-Version", task, {{host, "registry_service"}},
              [registry, ca](HostContext& h) { return get_v2_from(h, registry, ca); }};
}

Fact registry_certificate_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                               const std::string& host) {
  const std::string path = config.certificate_path();
  return Fact{"TLS certificate " + path, "valid for " + address + ", " + std::to_string(kRenewDays) + "+ days left", task,
              {{host, "registry_service"}}, [path, address](HostContext& h) -> Result<Observation> {
                auto pem = h.files().read(path);
                if (!pem) return pem.error();
                if (!*pem) return Observation{false, "absent", "'" + path + "' does not exist"};
                auto s = summarize_certificate(**pem);
                if (!s) return Observation{false, "unreadable", "'" + path + "': " + s.error().message};
                const long left = days_until(s->not_after);
                if (std::find(s->names.begin(), s->names.end(), address) == s->names.end())
                  return Observation{false, s->text, "not valid for " + address + ": clients refuse it"};
                if (left < kRenewDays)
                  return Observation{false, s->text, left < 0 ? "expired" : "expires in " + std::to_string(left) + " days"};
                return Observation{true, s->text, ""};
              }};
}

Fact registry_closed_fact(const RegistryServiceConfig& config, const std::string& address, const std::string& task,
                          const std::string& host) {
  const std::string registry = address + ":" + std::to_string(config.port);
  const bool tls = config.tls != RegistryTls::none;
  const std::string url = std::string(tls ? "https://" : "http://") + registry + "/v2/registry-setup-verify/probe/blobs/uploads/";
  const std::string ca = tls ? docker_ca_path(registry) : "";
  return Fact{"anonymous push to " + registry, "refused (401)", task, {{host, "registry_service"}},
              [url, ca](HostContext& h) -> Result<Observation> {
                std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                                 "-X", "POST"};
                if (!ca.empty()) argv.insert(argv.end(), {"--cacert", ca});
                argv.push_back(url);
                auto r = run_tool(h, argv, 30s);
                if (!r) return r.error();
                if (r->exit_code != 0) return Observation{false, "no answer", "POST " + url + ": " + last_line(r->err)};
                if (r->out == "401") return Observation{true, "refused (401)", ""};
                return Observation{false, "answered " + r->out, "a push without credentials was not refused"};
              }};
}

Fact registry_storage_fact(const RegistryServiceConfig& config, const std::string& task, const std::string& host) {
  const std::string root = config.root;
  // The unit creates it when it starts (ExecStartPre): a start by apply repairs an absent one.
  return Fact{"storage " + root, "directory, writable", task, {{host, "registry_service"}}, [root](HostContext& h) -> Result<Observation> {
                auto dir = run_tool(h, {"test", "-d", root}, 15s);
                if (!dir) return dir.error();
                if (dir->exit_code != 0) return Observation{false, "absent", "'" + root + "' is not a directory"};
                auto writable = run_tool(h, {"test", "-w", root}, 15s);
                if (!writable) return writable.error();
                if (writable->exit_code != 0)
                  return Observation{false, "directory, not writable", "'" + root + "' is not writable (read-only mount?)"};
                return Observation{true, "directory, writable", ""};
              }};
}

}  // namespace rs::agent
