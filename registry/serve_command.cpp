#include "registry/serve_command.hpp"

#include "core/args.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "registry/api.hpp"
#include "registry/config.hpp"
#include "registry/filesystem_driver.hpp"
#include "registry/gate.hpp"
#include "registry/htpasswd.hpp"
#include "registry/server.hpp"
#include "registry/store.hpp"
#include "registry/tls.hpp"
#include "registry/token_auth.hpp"
#include "registry/gc_scheduler.hpp"
#include "registry/upload_purger.hpp"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

extern char** environ;
#include <memory>

namespace rs::registry {
namespace {

constexpr const char* kHelp =
    "usage: registry-setup serve [--config FILE] [--listen ADDR:PORT] [--root DIR] [-v]\n"
    "\n"
    "Runs the built-in OCI/Docker v2 registry. Data is stored in registry:2's layout\n"
    "(ROOT/docker/registry/v2/...), so a docker-registry data directory works as is.\n"
    "\n"
    "options:\n"
    "  --config FILE       YAML config (keys: listen, root, delete, threads, workers, log,\n"
    "                      limits, storage, http.tls, auth.htpasswd, auth.token, access;\n"
    "                      registry:2's config.yml works as is: version, http.addr,\n"
    "                      http.tls, storage.filesystem...; what it cannot honour is refused)\n"
    "  --listen ADDR:PORT  address to listen on (default 0.0.0.0:5000; a host name or\n"
    "                      ':PORT' for every interface work too)\n"
    "  --root DIR          storage root (default /var/lib/registry)\n"
    "  -v, --verbose       debug logging (default: info, one access line per request)\n"
    "  -h, --help          this help\n"
    "\n"
    "Notifies systemd when ready (Type=notify). SIGTERM or SIGINT: stops accepting,\n"
    "finishes requests in flight (bounded), exits 0. SIGHUP: reloads TLS (below).\n"
    "\n"
    "http.tls {certificate, key, clientcas: [FILE...], minimumtls: tls1.2|tls1.3}:\n"
    "HTTPS (TLS 1.2 at least); with clientcas, a client needs a certificate one of\n"
    "them signed. SIGHUP re-reads certificate, key and CAs for new connections\n"
    "(connections in flight keep theirs; files that do not load keep the old ones).\n"
    "\n"
    "auth.htpasswd {realm, path}: every request needs HTTP Basic credentials of a user\n"
    "of that file (bcrypt entries; see 'registry-setup htpasswd'). auth.token: Bearer\n"
    "tokens, from this registry's /auth/token (signingkey) or an issuer's (rootcertbundle).\n"
    "access: who may pull, push, delete which repositories. Without auth, anyone who can\n"
    "reach the address can push and delete.\n"
    "\n"
    "environment: registry:2's REGISTRY_* overrides, REGISTRY_A_B_C for key a.b.c\n"
    "(REGISTRY_HTTP_ADDR, REGISTRY_HTTP_TLS_CERTIFICATE, REGISTRY_LOG_LEVEL, ...;\n"
    "ours too: REGISTRY_LIMITS_MAX_CONNECTIONS); one naming no key is warned about.\n"
    "\n"
    "exit codes: 0 stopped cleanly, 1 usage, 2 invalid config or --listen,\n"
    "            3 cannot serve (listen, storage)\n";

}  // namespace

int serve_command(const std::vector<std::string>& argv) {
  auto args = parse_args(argv, {{"-v", "--verbose", "-h", "--help"}, {"--config", "--listen", "--root"}});
  if (!args) {
    std::fprintf(stderr, "registry-setup serve: %s\n%s", args.error().message.c_str(), kHelp);
    return 1;
  }
  if (args->has("-h") || args->has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args->positionals.empty()) {
    std::fprintf(stderr, "registry-setup serve: unexpected argument '%s'\n", args->positionals[0].c_str());
    return 1;
  }
  // registry:2's REGISTRY_* overrides, over the file or over the defaults.
  const Environment environment = registry_environment(environ);
  auto file = args->get("--config");
  auto loaded = file ? load_config(*file, environment) : parse_config("", "(no config)", environment);
  if (!loaded) {
    std::fprintf(stderr, "registry-setup serve: %s\n", loaded.error().message.c_str());
    return 2;
  }
  Config config = std::move(*loaded);
  if (auto listen = args->get("--listen")) {
    if (auto r = set_listen(config, *listen); !r) {
      std::fprintf(stderr, "registry-setup serve: %s\n", r.error().message.c_str());
      return 2;
    }
  }
  if (auto root = args->get("--root")) config.root = *root;
  if (auto r = resolve_listen(config); !r) {
    std::fprintf(stderr, "registry-setup serve: %s\n", r.error().message.c_str());
    return 2;
  }
  log::set_level(config.log_level);
  if (args->count("-v") + args->count("--verbose") > 0) log::set_level("debug");
  auto log = log::get("registry");
  for (const auto& warning : config.warnings) log->warn("config: {}", warning);

  if (auto r = make_dirs(config.root); !r) {
    log->error("storage root '{}': {}", config.root, r.error().message);
    return 3;
  }
  if (::access(config.root.c_str(), W_OK) != 0) {
    log->error("storage root '{}': not writable", config.root);
    return 3;
  }
  const std::uint64_t open_files = fit_open_files(config.server);
  log->debug("open-file limit {}, at most {} connections ({} per client address)", open_files,
             config.server.max_connections, config.server.max_connections_per_client);
  FilesystemDriver driver(config.root);
  Store store(driver, config.store);
  Api api(store, config.api);
  std::unique_ptr<HtpasswdChecker> checker;
  std::unique_ptr<TokenAuthority> tokens;
  std::unique_ptr<Gate> gate;
  if (config.htpasswd) {
    checker = std::make_unique<HtpasswdChecker>(config.htpasswd->path);
    if (auto r = checker->load(); !r) {
      log->error("auth.htpasswd: {}", r.error().message);
      return 2;
    }
  }
  if (config.token) {
    auto made = TokenAuthority::create(*config.token, /*create_key=*/true);
    if (!made) {
      log->error("auth.token: {}", made.error().message);
      return 2;
    }
    tokens = std::move(*made);
  }
  if (checker || tokens) {
    gate = std::make_unique<Gate>(GateOptions{checker.get(), config.htpasswd ? config.htpasswd->realm : std::string(),
                                              config.access, tokens.get()});
    api.use_gate(*gate);
  }
  std::unique_ptr<TlsContexts> tls;
  if (config.tls) {
    auto loaded_tls = TlsContexts::load(*config.tls);
    if (!loaded_tls) {
      log->error("http.tls: {}", loaded_tls.error().message);
      return 2;
    }
    tls = std::move(*loaded_tls);
    if (auto problem = tls->validity_problem(); !problem.empty()) log->warn("http.tls: {}", problem);
  }
  // A write to a client that went away fails with EPIPE instead of ending the process
  // (OpenSSL writes with write(2), and sendfile raises SIGPIPE too).
  std::signal(SIGPIPE, SIG_IGN);
  Server server(api, config.server);
  if (tls) server.use_tls(*tls);
  auto port = server.listen();
  if (!port) {
    log->error("{}", port.error().message);
    return 3;
  }
  log->info("serving the v2 registry on {}:{} ({}) with data in '{}' (delete {})", config.server.address, *port,
            tls ? "https" : "http", config.root, config.api.delete_enabled ? "enabled" : "disabled");
  if (tls)
    log->info("https: TLS {} and later, certificate {} (SIGHUP reloads it)",
              config.tls->minimum == TlsVersion::tls13 ? "1.3" : "1.2", tls->describe());
  // Old uploads go now and every interval, beside serving; the thread ends with the server.
  const auto& purging = config.purging;
  if (purging.enabled)
    log->info("purging uploads older than {}s every {}s{}", purging.age.count(), purging.interval.count(),
              purging.dry_run ? " (dry run)" : "");
  if (tokens && tokens->issues())
    log->info("auth: tokens issued at {} for the users of '{}' ({} key, service '{}', {}s)",
              config.token->realm.empty() ? std::string("/auth/token") : config.token->realm, config.htpasswd->path,
              config.token->signingkey, config.token->service, config.token->expiration.count());
  else if (tokens)
    log->info("auth: tokens of issuer '{}' (service '{}', certificates '{}'; clients log in at {})",
              config.token->issuer, config.token->service, config.token->rootcertbundle, config.token->realm);
  else if (checker)
    log->info("auth: htpasswd '{}' (realm '{}'): every request needs a user's credentials", config.htpasswd->path,
              config.htpasswd->realm);
  if (gate)
    log->info("access: {}", config.access ? "by the rules of the config's access section"
                                          : "every user may pull, push and delete; anonymous callers nothing");
  if (!gate && !is_loopback_address(config.server.address))
    log->warn("no auth configured and listening on {}: anyone who can reach it can push and delete "
              "(set auth.htpasswd in the config)", config.server.address);
  if (config.gc.enabled)
    log->info("gc every {}s, grace {}s{}{}", config.gc.interval.count(), config.gc.grace.count(),
              config.gc.delete_untagged ? ", untagged manifests too" : "", config.gc.dry_run ? " (dry run)" : "");
  UploadPurger purger(store, purging);
  GcScheduler collector(driver, config.gc, config.store.max_manifest_bytes);
  sd_notifyf(0, "READY=1\nSTATUS=serving on %s:%u", config.server.address.c_str(), static_cast<unsigned>(*port));
  server.run(true, [&purger, &collector] {
    sd_notify(0, "STOPPING=1");
    purger.stop();
    collector.stop();
  });
  log->info("stopped");
  return 0;
}

}  // namespace rs::registry
