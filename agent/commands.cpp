#include "agent/commands.hpp"

#include "agent/host/become.hpp"
#include "agent/host/debug_log.hpp"
#include "agent/run/apply.hpp"
#include "agent/run/builtin_playbook.hpp"
#include "agent/run/verify.hpp"
#include "core/args.hpp"
#include "core/log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <cstdio>
#include <iostream>

namespace rs::agent {
namespace {

constexpr const char* kApplyHelp =
    "usage: registry-setup apply [INVENTORY | -i INVENTORY...] [-e VARS...] [--playbook FILE]\n"
    "                            [--check] [--diff] [--limit PATTERN] [--forks N] [--json] [-v]\n"
    "                            [--list-hosts] [--syntax-check]\n"
    "\n"
    "Sets up every host of an Ansible inventory: ip_forward (live and in\n"
    "/etc/sysctl.d), docker's insecure registries (drop-in or daemon.json), a daemon-reload and\n"
    "docker restart only when something changed, and the built-in registry on group 'registry'.\n"
    "Inventory and playbook are validated completely before any host is touched.\n"
    "\n"
    "options:\n"
    "  -i INVENTORY      an inventory file (YAML or INI) or a directory of them, with the\n"
    "                    group_vars/ and host_vars/ beside it; repeat to merge several\n"
    "  -e VARS           extra variables, highest precedence: 'k=v k2=v2', '@FILE' (YAML or\n"
    "                    JSON) or a mapping '{\"k\": 1}'; repeatable\n"
    "  --list-hosts      print the hosts each play would run on, change nothing\n"
    "  --syntax-check    validate inventory and playbook, change nothing\n"
    "  --playbook FILE   run FILE instead of the default playbook (playbooks/site.yml,\n"
    "                    installed beside the binary or built into it)\n"
    "  --check           report what would change, change nothing\n"
    "  --diff            show file diffs of changed tasks\n"
    "  --limit PATTERN   only hosts matching PATTERN (host, group, glob, 'a:b', '!x', '&x',\n"
    "                    'group[0]', 'group[0:2]', '~regex')\n"
    "  --forks N         hosts worked on in parallel (default 5)\n"
    "  --json            one JSON document on stdout instead of the task lines\n"
    "  -v                more logging (repeat for debug)\n"
    "\n"
    "exit codes: 0 all hosts ok, 1 usage or invalid input (nothing changed),\n"
    "            2 a host failed, 4 a host was unreachable\n";

constexpr const char* kVerifyHelp =
    "usage: registry-setup verify [INVENTORY | -i INVENTORY...] [-e VARS...] [--playbook FILE]\n"
    "                             [--limit PATTERN] [--json] [--no-probe] [--forks N] [-v]\n"
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
    "  -i INVENTORY      as apply: a file or directory, repeatable\n"
    "  -e VARS           as apply: extra variables, repeatable\n"
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
  spec.options.insert({"--playbook", "--limit", "--forks", "-i", "--inventory", "-e", "--extra-vars"});
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
  CommonArgs c;
  c.hosts.inventory = args->positionals;
  for (const char* opt : {"-i", "--inventory"})
    for (auto& i : args->get_all(opt)) c.hosts.inventory.push_back(i);
  for (const char* opt : {"-e", "--extra-vars"})
    for (auto& e : args->get_all(opt)) c.hosts.extra_vars.push_back(e);
  if (c.hosts.inventory.empty() || args->positionals.size() > 1 || !args->rest.empty()) {
    std::fprintf(stderr, "registry-setup %s: needs one INVENTORY, or -i INVENTORY (repeatable) (see 'registry-setup %s --help')\n",
                 name, name);
    return std::nullopt;
  }
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
  auto c = parse_common("apply", argv, ArgSpec{{"--check", "--diff", "--list-hosts", "--syntax-check"}, {}}, kApplyHelp,
                        exit_code);
  if (!c) return exit_code;
  if (c->args.has("--list-hosts")) return run_list_hosts(c->hosts, std::cout, std::cerr);
  if (c->args.has("--syntax-check")) return run_syntax_check(c->hosts, std::cout, std::cerr);
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

int prepend_stdin_command(const std::vector<std::string>& argv) {
  if (argv.size() < 2) {
    std::fprintf(stderr, "registry-setup %s: needs FILE and a command\n", kPrependStdin);
    return kExitUsage;
  }
  int file = ::open(argv[0].c_str(), O_RDONLY | O_CLOEXEC);
  int pipe_fds[2];
  if (file < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "registry-setup %s: %s: %s\n", kPrependStdin, argv[0].c_str(), std::strerror(errno));
    return 127;
  }
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(pipe_fds[0], 0);
    std::vector<char*> args;
    for (std::size_t i = 1; i < argv.size(); ++i) args.push_back(const_cast<char*>(argv[i].c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[0]);
  std::signal(SIGPIPE, SIG_IGN);
  // Writes all of buf to the command; false once it is gone.
  auto put = [&](const char* buf, ssize_t n) {
    while (n > 0) {
      ssize_t w = ::write(pipe_fds[1], buf, static_cast<std::size_t>(n));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      buf += w;
      n -= w;
    }
    return true;
  };
  char buf[65536];
  bool open_pipe = true;
  for (ssize_t n; open_pipe && (n = ::read(file, buf, sizeof buf)) > 0;) open_pipe = put(buf, n);
  ::close(file);
  // Then stdin as it comes: the command's peer (ssh) makes the shared socket non-blocking,
  // so wait for it with poll instead of failing on EAGAIN.
  while (open_pipe) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n > 0) {
      open_pipe = put(buf, n);
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      pollfd p{0, POLLIN, 0};
      ::poll(&p, 1, -1);
    } else {
      break;
    }
  }
  ::close(pipe_fds[1]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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
