// registry-setup: a switchboard of subcommands, each implemented by its component.
#include "agent/commands.hpp"
#include "agent/host/become.hpp"
#include "core/log.hpp"
#include "lab/lab_command.hpp"
#include "registry/gc_command.hpp"
#include "registry/htpasswd_command.hpp"
#include "registry/serve_command.hpp"
#include "registry/storage_commands.hpp"

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Subcommand {
  std::string_view name;
  std::string_view summary;
  std::function<int(const std::vector<std::string>&)> run;
};

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"serve", "run the built-in v2 registry server", rs::registry::serve_command},
      {"htpasswd", "add or update a user of an htpasswd file (bcrypt) for auth.htpasswd",
       rs::registry::htpasswd_command},
      {"gc", "delete the blobs and manifests nothing references (safe while serving)", rs::registry::gc_command},
      {"rm", "remove a repository, a tag or a manifest from a registry's storage", rs::registry::rm_command},
      {"du", "what a registry's storage holds per repository, and what gc would free", rs::registry::du_command},
      {"apply", "set up every host of an inventory (ip_forward, insecure registry, registry)",
       rs::agent::apply_command},
      {"verify", "check the hosts of an inventory without changing them", rs::agent::verify_command},
      {"lab", "bootstrap a lab of real hosts (systemd, dockerd, sshd) on this machine",
       rs::lab::lab_command},
  };
  return table;
}

void print_help(std::FILE* out) {
  std::fprintf(out,
               "usage: registry-setup <command> [options]\n"
               "\n"
               "Makes a private Docker registry setup reproducible.\n"
               "\n"
               "commands:\n");
  for (const auto& c : subcommands())
    std::fprintf(out, "  %-9.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  std::fprintf(out,
               "\n"
               "options:\n"
               "  -h, --help     show this help (or 'registry-setup <command> --help')\n"
               "  --version      print the version\n"
               "\n"
               "exit codes: 0 success, 1 usage or invalid input, others per command (see --help)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_help(stderr);
    return 1;
  }
  const std::string& first = args.front();
  if (first == "-h" || first == "--help" || first == "help") {
    print_help(stdout);
    return 0;
  }
  if (first == "--version") {
    std::printf("registry-setup %s\n", RS_VERSION);
    return 0;
  }
  if (first == rs::agent::kPrependStdin)
    return rs::agent::prepend_stdin_command(std::vector<std::string>(args.begin() + 1, args.end()));
  for (const auto& c : subcommands()) {
    if (c.name == first) {
      rs::log::init(0);
      return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
    }
  }
  std::fprintf(stderr, "registry-setup: unknown command '%s' (see 'registry-setup --help')\n", first.c_str());
  return 1;
}
