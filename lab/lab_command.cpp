#include "lab/lab_command.hpp"

#include "agent/run/inventory.hpp"
#include "agent/run/registry_vars.hpp"
#include "agent/run/run_input.hpp"
#include "core/args.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "lab/lab.hpp"
#include "lab/plan.hpp"
#include "lab/process.hpp"
#include "lab/system.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

namespace rs::lab {
namespace {

constexpr int kOk = 0;
constexpr int kUsage = 1;
constexpr int kFailed = 2;
constexpr const char* kDefaultName = "lab";

const char* kLabHelp =
    "usage: registry-setup lab <command> [options]\n"
    "\n"
    "A lab of real hosts on this machine. Every inventory host becomes a node: a network\n"
    "namespace holding the host's ansible_host address, systemd as PID 1 (systemd-nspawn on an\n"
    "overlay of a cached Debian root), docker and sshd, reachable over SSH with a key the lab\n"
    "creates. The switch and the controller (where `lab run` executes) are namespaces of the\n"
    "lab too; no lab namespace has a default route and the machine's own namespace gets no\n"
    "address or route toward lab addresses. Needs root.\n"
    "\n"
    "commands:\n"
    "  up INVENTORY        create the lab from an Ansible YAML inventory and boot every node\n"
    "  status              the nodes, their addresses and systemd's state\n"
    "  exec HOST -- CMD    run CMD on a node (all of its namespaces, as root)\n"
    "  run -- CMD          run CMD on the controller; ssh/scp there use the lab's key and known hosts\n"
    "  down                stop the nodes; remove namespaces, mounts and state\n"
    "\n"
    "options (every command):\n"
    "  --name NAME         which lab (default: lab); labs are independent, addresses may repeat\n"
    "  -v                  more log output\n"
    "  -h, --help          this help, or 'registry-setup lab <command> --help'\n"
    "\n"
    "The node root filesystem is built once by scripts/lab-rootfs.sh (debootstrap; `lab up` runs\n"
    "it when the cache is missing) and cached in\n"
    "/var/cache/registry-setup/rootfs-bookworm ($RS_LAB_CACHE); state lives in\n"
    "/run/registry-setup/lab/NAME ($RS_LAB_RUN_DIR).\n"
    "\n"
    "exit codes: 0 ok, 1 usage or invalid input, 2 a step failed; exec and run return the\n"
    "command's exit status.\n";

const char* kUpHelp =
    "usage: registry-setup lab up INVENTORY [--name NAME] [--prefix N] [--docker-opts OPTS]\n"
    "                           [--boot-timeout SECONDS]\n"
    "\n"
    "Creates the lab: switch, controller and one node per inventory host (ansible_host, or the\n"
    "host name when it is an address), then boots the nodes and waits until each has booted\n"
    "with docker.service and ssh.service active. A failure removes everything made so far.\n"
    "\n"
    "  --prefix N          prefix length of the node subnets (default 24); hosts in different\n"
    "                      subnets still reach each other (on-link routes), never beyond the lab\n"
    "  --docker-opts OPTS  DOCKER_OPTS in every node's /etc/default/docker, e.g.\n"
    "                      \"--ip-forward=false\" so that ip_forward stays 0 until set\n"
    "  --boot-timeout S    how long the nodes may take to boot (default 90)\n"
    "\n"
    "example: registry-setup lab up examples/two-host/inventory.yml\n"
    "exit codes: 0 up, 1 usage or invalid inventory, 2 a step failed (nothing is left behind)\n";

const char* kStatusHelp =
    "usage: registry-setup lab status [--name NAME]\n"
    "\n"
    "Lists the controller and the nodes: address, namespace, systemd's PID and\n"
    "`systemctl is-system-running`.\n"
    "exit codes: 0 every node runs, 1 usage, 2 the lab is not up or a node is not running\n";

const char* kExecHelp =
    "usage: registry-setup lab exec [--name NAME] HOST -- CMD [ARG...]\n"
    "\n"
    "Runs CMD on the node HOST (nsenter into all of its namespaces, a clean root environment);\n"
    "stdin, stdout and stderr pass through.\n"
    "example: registry-setup lab exec host-b -- docker info\n"
    "exit codes: CMD's exit status; 1 usage; 2 the lab or node is not up\n";

const char* kRunHelp =
    "usage: registry-setup lab run [--name NAME] -- CMD [ARG...]\n"
    "\n"
    "Runs CMD on the lab's controller: a network namespace on the lab's switch, without a\n"
    "default route, with the machine's files. PATH starts with the lab's ssh and scp, which use\n"
    "the lab's key and known hosts (also in $RS_LAB_SSH_CONFIG, $RS_LAB_SSH_KEY,\n"
    "$RS_LAB_KNOWN_HOSTS), so `ssh root@ADDRESS` or `ssh HOST` reaches a node.\n"
    "example: registry-setup lab run -- registry-setup apply examples/two-host/inventory.yml\n"
    "exit codes: CMD's exit status; 1 usage; 2 the lab is not up\n";

const char* kDownHelp =
    "usage: registry-setup lab down [--name NAME]\n"
    "\n"
    "Stops every node (orderly shutdown, killed after 30 s), unmounts the overlays, deletes the\n"
    "lab's namespaces and its state directory.\n"
    "exit codes: 0 down (or was not up), 1 usage, 2 something could not be removed\n";

void print_progress(const std::string& line) {
  std::printf("lab: %s\n", line.c_str());
  std::fflush(stdout);
}

int fail(const std::string& context, const Error& e) {
  std::fprintf(stderr, "registry-setup lab %s: %s\n", context.c_str(), e.message.c_str());
  return e.code == Errc::invalid_argument ? kUsage : kFailed;
}

int usage(const std::string& context, const std::string& message, const char* help) {
  std::fprintf(stderr, "registry-setup lab %s: %s\n\n%s", context.c_str(), message.c_str(), help);
  return kUsage;
}

struct Parsed {
  Args args;
  std::string name;
};

// Parses the options common to every subcommand plus `extra`; prints help when asked.
std::optional<int> parse(const std::string& sub, const std::vector<std::string>& argv, std::set<std::string> options,
                         const char* help, Parsed& out) {
  ArgSpec spec;
  spec.flags = {"-h", "--help", "-v"};
  options.insert("--name");
  spec.options = options;
  auto args = parse_args(argv, spec);
  if (!args) return usage(sub, args.error().message, help);
  if (args->has("-h") || args->has("--help")) {
    std::fputs(help, stdout);
    return kOk;
  }
  if (args->count("-v") > 0) rs::log::init(args->count("-v"));
  out.args = *args;
  out.name = args->get("--name").value_or(kDefaultName);
  if (!valid_lab_name(out.name))
    return usage(sub, "lab name '" + out.name + "': use 1-16 of a-z, 0-9 and '-' (not first or last)", help);
  return std::nullopt;
}

// Splits `[options] [HOST] CMD...` where the command starts at the first word that is not
// an option (after `positionals_before` positional words) or after `--`, so that the
// command's own options (`ssh -v`) are never taken for the lab's.
std::pair<std::vector<std::string>, std::vector<std::string>> split_command(const std::vector<std::string>& argv,
                                                                            std::size_t positionals_before) {
  std::vector<std::string> head;
  std::size_t positionals = 0;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") return {head, std::vector<std::string>(argv.begin() + static_cast<long>(i) + 1, argv.end())};
    if (a.size() > 1 && a[0] == '-') {
      head.push_back(a);
      if (a == "--name" && i + 1 < argv.size()) head.push_back(argv[++i]);
      continue;
    }
    if (positionals == positionals_before)
      return {head, std::vector<std::string>(argv.begin() + static_cast<long>(i), argv.end())};
    head.push_back(a);
    ++positionals;
  }
  return {head, {}};
}

int up_command(const std::vector<std::string>& argv) {
  Parsed p;
  if (auto rc = parse("up", argv, {"--prefix", "--docker-opts", "--boot-timeout"}, kUpHelp, p)) return *rc;
  if (p.args.positionals.size() != 1 || !p.args.rest.empty())
    return usage("up", "expected exactly one INVENTORY", kUpHelp);
  int prefix = kDefaultPrefixLength;
  if (auto v = p.args.get("--prefix")) {
    auto n = parse_positive_int("--prefix", *v);
    if (!n) return usage("up", n.error().message, kUpHelp);
    prefix = *n;
  }
  UpOptions options;
  options.inventory = p.args.positionals[0];
  options.docker_opts = p.args.get("--docker-opts").value_or("");
  if (auto v = p.args.get("--boot-timeout")) {
    auto n = parse_positive_int("--boot-timeout", *v);
    if (!n) return usage("up", n.error().message, kUpHelp);
    options.boot_timeout = std::chrono::seconds(*n);
  }

  // Parse and validate everything before touching the machine.
  agent::Problems problems;
  auto inventory = agent::Inventory::load(options.inventory, problems, agent::derive_registry_vars);
  if (!inventory) {
    agent::print_problems("lab up", problems, false, std::cout, std::cerr);
    return kUsage;
  }
  auto plan = make_plan(p.name, lab_hosts(*inventory), prefix);
  if (!plan) return fail("up", plan.error().with_context(options.inventory));
  if (auto r = preflight(); !r) return fail("up", r.error());
  if (auto r = ensure_rootfs(print_progress); !r) return fail("up", r.error());

  print_progress("lab '" + p.name + "': " + std::to_string(plan->nodes.size()) + " node(s) from " +
                 options.inventory);
  auto state = up(*plan, options, print_progress);
  if (!state) return fail("up", state.error());
  for (const auto& n : plan->nodes)
    std::printf("  %-16s %-15s  registry-setup lab exec%s %s -- CMD\n", n.host.c_str(), n.address.c_str(),
                p.name == kDefaultName ? "" : (" --name " + p.name).c_str(), n.host.c_str());
  std::printf("  %-16s %-15s  registry-setup lab run%s -- CMD   (ssh HOST works there)\n", "controller",
              plan->controller_address.c_str(), p.name == kDefaultName ? "" : (" --name " + p.name).c_str());
  return kOk;
}

int down_command(const std::vector<std::string>& argv) {
  Parsed p;
  if (auto rc = parse("down", argv, {}, kDownHelp, p)) return *rc;
  if (!p.args.positionals.empty() || !p.args.rest.empty()) return usage("down", "takes no arguments", kDownHelp);
  if (geteuid() != 0) return fail("down", make_error(Errc::permission_denied, "the lab needs root"));
  auto r = down(p.name, print_progress);
  if (!r) {
    if (r.error().code == Errc::not_found) {
      print_progress(r.error().message + ": nothing to do");
      return kOk;
    }
    return fail("down", r.error());
  }
  return kOk;
}

int status_command(const std::vector<std::string>& argv) {
  Parsed p;
  if (auto rc = parse("status", argv, {}, kStatusHelp, p)) return *rc;
  if (!p.args.positionals.empty() || !p.args.rest.empty()) return usage("status", "takes no arguments", kStatusHelp);
  auto state = load(p.name);
  if (!state) {
    std::fprintf(stderr, "registry-setup lab status: %s\n", state.error().message.c_str());
    return kFailed;
  }
  char since[32] = "?";
  std::time_t t = static_cast<std::time_t>(state->created_at);
  std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  std::printf("lab '%s': %s since %s, inventory %s\n", state->name.c_str(), state->phase.c_str(), since,
              state->inventory.c_str());
  std::printf("%-16s %-15s %-10s %-8s %s\n", "HOST", "ADDRESS", "STATE", "PID", "NAMESPACE");
  std::printf("%-16s %-15s %-10s %-8s %s\n", "(controller)", state->controller_address.c_str(), "-", "-",
              state->controller_netns.c_str());
  bool all_running = state->phase == "up";
  for (const auto& n : node_status(*state)) {
    std::printf("%-16s %-15s %-10s %-8d %s\n", n.host.c_str(), n.address.c_str(),
                n.system_state.empty() ? "unknown" : n.system_state.c_str(), n.leader_pid, n.netns.c_str());
    if (!n.running) all_running = false;
  }
  std::printf("ssh config for the controller: %s\n", LabPaths::of(p.name).ssh_config().c_str());
  return all_running ? kOk : kFailed;
}

int exec_command(const std::vector<std::string>& argv) {
  Parsed p;
  auto [head, command] = split_command(argv, 1);
  if (auto rc = parse("exec", head, {}, kExecHelp, p)) return *rc;
  if (p.args.positionals.size() != 1) return usage("exec", "expected HOST -- CMD", kExecHelp);
  if (command.empty()) return usage("exec", "expected a command after HOST --", kExecHelp);
  auto state = load(p.name);
  if (!state) return fail("exec", state.error());
  auto e = node_exec(*state, p.args.positionals[0], command);
  if (!e) return fail("exec", e.error());
  std::vector<char*> c_argv, c_env;
  for (auto& a : e->argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  for (auto& v : e->env) c_env.push_back(v.data());
  c_env.push_back(nullptr);
  std::fflush(stdout);
  execve(c_argv[0], c_argv.data(), c_env.data());
  return fail("exec", errno_error("run nsenter", errno));
}

int run_command_in_controller(const std::vector<std::string>& argv) {
  Parsed p;
  auto [head, command] = split_command(argv, 0);
  if (auto rc = parse("run", head, {}, kRunHelp, p)) return *rc;
  if (command.empty()) return usage("run", "expected -- CMD", kRunHelp);
  auto state = load(p.name);
  if (!state) return fail("run", state.error());
  if (geteuid() != 0) return fail("run", make_error(Errc::permission_denied, "the lab needs root"));
  const std::string netns_path = "/run/netns/" + state->controller_netns;
  {
    Fd fd(open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail("run", errno_error("open the controller's namespace '" + netns_path + "'", errno));
    if (setns(fd.get(), CLONE_NEWNET) != 0)
      return fail("run", errno_error("enter '" + state->controller_netns + "'", errno));
  }
  for (const auto& [k, v] : controller_env(*state)) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> c_argv;
  for (auto& a : command) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::fflush(stdout);
  execvp(c_argv[0], c_argv.data());
  int err = errno;
  std::fprintf(stderr, "registry-setup lab run: cannot run '%s': %s\n", command[0].c_str(), std::strerror(err));
  return err == ENOENT ? 127 : 126;
}

}  // namespace

int lab_command(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fputs(kLabHelp, stderr);
    return kUsage;
  }
  const std::string& sub = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "-h" || sub == "--help" || sub == "help") {
    std::fputs(kLabHelp, stdout);
    return kOk;
  }
  if (sub == "up") return up_command(rest);
  if (sub == "down") return down_command(rest);
  if (sub == "status") return status_command(rest);
  if (sub == "exec") return exec_command(rest);
  if (sub == "run") return run_command_in_controller(rest);
  std::fprintf(stderr, "registry-setup lab: unknown command '%s' (see 'registry-setup lab --help')\n", sub.c_str());
  return kUsage;
}

}  // namespace rs::lab
