#include "agent/commands.hpp"

#include "agent/host/debug_log.hpp"
#include "agent/run/apply.hpp"
#include "agent/run/verify.hpp"
#include "core/args.hpp"
#include "core/log.hpp"

#include <csignal>
#include <optional>
#include <cstdio>
#include <iostream>

namespace rs::agent {
namespace {

constexpr const char* kApplyHelp =
    "usage: registry-setup apply INVENTORY [--playbook FILE] [--check] [--diff] [--limit PATTERN]\n"
    "                            [--forks N] [--json] [-v]\n"
    "\n"
    "Sets up every host of an Ansible-format YAML inventory: ip_forward (live and in\n"
    "/etc/sysctl.d), docker's insecure registries (drop-in or daemon.json), a daemon-reload and\n"
    "docker restart only when something changed, and the built-in registry on group 'registry'.\n"
    "Inventory and playbook are validated completely before any host is touched.\n"
    "\n"
    "options:\n"
    "  --playbook FILE   run FILE instead of the default playbook (playbooks/site.yml)\n"
    "  --check           report what would change, change nothing\n"
    "  --diff            show file diffs of changed tasks\n"
    "  --limit PATTERN   only hosts matching PATTERN (host, group, glob, 'a:b', '!x', '&x')\n"
    "  --forks N         hosts worked on in parallel (default 5)\n"
    "  --json            one JSON document on stdout instead of the task lines\n"
    "  -v                more logging (repeat for debug)\n"
    "\n"
    "exit codes: 0 all hosts ok, 1 usage or invalid input (nothing changed),\n"
    "            2 a host failed, 4 a host was unreachable\n";

constexpr const char* kVerifyHelp =
    "usage: registry-setup verify INVENTORY [--playbook FILE] [--limit PATTERN] [--json] [--no-probe]\n"
    "                             [--forks N] [-v]\n"
    "\n"
    "Reads only. Per host, every task of the playbook is checked as 'apply --check' would (a\n"
    "difference is drift: the next apply repairs exactly that) and these facts are observed,\n"
    "each with its expected and actual value:\n"
    "  - net.ipv4.ip_forward live, and the value the file applied last at boot sets;\n"
    "  - dockerd's effective insecure registries (Engine API GET /info on its socket), no\n"
    "    pending daemon-reload of docker.service;\n"
    "  - on registry hosts: the unit active and enabled, GET /v2/ with the registry header,\n"
    "    the storage directory present and writable;\n"
    "  - from every docker host: each registry reachable over plain HTTP, and (unless\n"
    "    --no-probe) a tiny generated image pushed, pulled back, digests compared, deleted.\n"
    "A wrong fact is 'drift' when a task with a difference repairs it, else 'failed'.\n"
    "\n"
    "options:\n"
    "  --playbook FILE   the playbook apply runs (default playbooks/site.yml)\n"
    "  --limit PATTERN   only hosts matching PATTERN (host, group, glob, 'a:b', '!x', '&x')\n"
    "  --json            one JSON document on stdout instead of the tables\n"
    "  --no-probe        skip the end-to-end push/pull/delete\n"
    "  --forks N         hosts verified in parallel (default 5)\n"
    "  -v                progress on stderr, full values and details in the tables\n"
    "\n"
    "exit codes: 0 all good, 1 usage or invalid input, 2 drift or a failed check,\n"
    "            4 a host was unreachable\n";

}  // namespace

void debug_log(const std::string& message) {
  // Loggers exist once main has set them up; unit tests have none.
  if (auto log = spdlog::get("agent")) log->debug("{}", message);
}

namespace {

// What apply and verify share on their command lines, and the rest of the arguments.
struct CommonArgs {
  Args args;
  HostsOptions hosts;
};

// Parses `registry-setup NAME ... INVENTORY`; nullopt after printing help or the usage error,
// with the exit code in `exit_code`.
std::optional<CommonArgs> parse_common(const char* name, const std::vector<std::string>& argv, ArgSpec spec,
                                       const char* help, int& exit_code) {
  spec.flags.insert({"-v", "-h", "--help", "--json"});
  spec.options.insert({"--playbook", "--limit", "--forks"});
  auto args = parse_args(argv, spec);
  exit_code = kExitUsage;
  if (!args) {
    std::fprintf(stderr, "registry-setup %s: %s (see 'registry-setup %s --help')\n", name, args.error().message.c_str(),
                 name);
    return std::nullopt;
  }
  if (args->has("-h") || args->has("--help")) {
    std::fputs(help, stdout);
    exit_code = kExitOk;
    return std::nullopt;
  }
  if (args->positionals.size() != 1 || !args->rest.empty()) {
    std::fprintf(stderr, "registry-setup %s: needs exactly one INVENTORY file (see 'registry-setup %s --help')\n", name,
                 name);
    return std::nullopt;
  }
  CommonArgs c;
  c.hosts.inventory = args->positionals[0];
  c.hosts.playbook = args->get("--playbook").value_or(default_playbook_path());
  c.hosts.limit = args->get("--limit").value_or("");
  c.hosts.json = args->has("--json");
  c.hosts.verbosity = args->count("-v");
  if (auto forks = args->get("--forks")) {
    auto n = parse_positive_int("--forks", *forks);
    if (!n) {
      std::fprintf(stderr, "registry-setup %s: %s\n", name, n.error().message.c_str());
      return std::nullopt;
    }
    c.hosts.forks = *n;
  }
  c.args = std::move(*args);
  return c;
}

}  // namespace

int apply_command(const std::vector<std::string>& argv) {
  int exit_code = kExitUsage;
  auto c = parse_common("apply", argv, ArgSpec{{"--check", "--diff"}, {}}, kApplyHelp, exit_code);
  if (!c) return exit_code;
  ApplyOptions options;
  static_cast<HostsOptions&>(options) = c->hosts;
  options.check = c->args.has("--check");
  options.diff = c->args.has("--diff");
  log::init(options.verbosity);
  // A closed stdout (`| head`) must not kill the run halfway through a host's changes.
  std::signal(SIGPIPE, SIG_IGN);
  TransportConnector connector;
  return run_apply(options, connector, std::cout, std::cerr);
}

int verify_command(const std::vector<std::string>& argv) {
  int exit_code = kExitUsage;
  auto c = parse_common("verify", argv, ArgSpec{{"--no-probe"}, {}}, kVerifyHelp, exit_code);
  if (!c) return exit_code;
  VerifyOptions options;
  static_cast<HostsOptions&>(options) = c->hosts;
  options.probe = !c->args.has("--no-probe");
  log::init(options.verbosity > 1 ? options.verbosity - 1 : 0);
  TransportConnector connector;
  return run_verify(options, connector, std::cout, std::cerr);
}

}  // namespace rs::agent
