#include "lab/files.hpp"

#include "core/shell_quote.hpp"
#include "lab/process.hpp"
#include "lab/system.hpp"

#include <sys/stat.h>

#include <cstdio>

namespace rs::lab {
namespace {

using namespace std::chrono_literals;

Result<void> write_text(const std::string& path, const std::string& content, unsigned mode = 0644) {
  return write_file_atomic(path, content, mode);
}

// Single-quoted for /bin/sh, for the wrapper scripts and the env file the lab writes.
std::string sh_quote(const std::string& s) { return shell_quote(s, Quoting::always); }

std::string ssh_quote(const std::string& s) { return s.find(' ') == std::string::npos ? s : "\"" + s + "\""; }

}  // namespace

std::string hosts_text(const LabPlan& plan) {
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const auto& n : plan.nodes) hosts += n.address + "\t" + n.host + "\n";
  return hosts;
}

std::string docker_defaults_text(const std::string& docker_opts) {
  std::string opts = docker_opts;
  for (char& c : opts)
    if (c == '"' || c == '\n' || c == '\\' || c == '$' || c == '`') c = ' ';
  return "# Written by registry-setup lab\nDOCKER_OPTS=\"" + opts + "\"\n";
}

std::string known_hosts_text(const LabPlan& plan, const std::vector<std::string>& host_keys) {
  std::string known;
  for (std::size_t i = 0; i < plan.nodes.size() && i < host_keys.size(); ++i) {
    // "type base64 comment" -> "host,address type base64"
    std::string key = host_keys[i];
    if (auto space = key.find(' '); space != std::string::npos)
      if (auto second = key.find(' ', space + 1); second != std::string::npos) key = key.substr(0, second);
    known += plan.nodes[i].host + "," + plan.nodes[i].address + " " + key + "\n";
  }
  return known;
}

std::string ssh_config_text(const LabPlan& plan, const LabPaths& paths) {
  std::string config = "# Written by registry-setup lab '" + plan.name +
                       "': its nodes, its key, its known hosts.\n";
  for (const auto& n : plan.nodes) config += "Host " + n.host + "\n  HostName " + n.address + "\n";
  config += "Host *\n"
            "  User root\n"
            "  IdentityFile " + ssh_quote(paths.key()) + "\n"
            "  IdentitiesOnly yes\n"
            "  UserKnownHostsFile " + ssh_quote(paths.known_hosts()) + "\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 10\n"
            "  LogLevel ERROR\n";
  return config;
}

std::string ssh_wrapper_text(const std::string& lab_name, const std::string& tool, const std::string& real_path,
                             const std::string& config_path) {
  return "#!/bin/sh\n# Written by registry-setup lab '" + lab_name + "': " + tool +
         " with the lab's key and known hosts.\nexec " + sh_quote(real_path) + " -F " + sh_quote(config_path) +
         " \"$@\"\n";
}

std::string env_text(const LabPlan& plan, const LabPaths& paths) {
  std::string env = "# Written by registry-setup lab '" + plan.name + "'; `. " + paths.env_file() + "`\n";
  env += "RS_LAB_NAME=" + sh_quote(plan.name) + "\n";
  env += "RS_LAB_DIR=" + sh_quote(paths.dir) + "\n";
  env += "RS_LAB_SSH_CONFIG=" + sh_quote(paths.ssh_config()) + "\n";
  env += "RS_LAB_SSH_KEY=" + sh_quote(paths.key()) + "\n";
  env += "RS_LAB_KNOWN_HOSTS=" + sh_quote(paths.known_hosts()) + "\n";
  env += "RS_LAB_CONTROLLER=" + sh_quote(plan.controller_address) + "\n";
  return env;
}

Result<std::string> read_public_key(const std::string& path) {
  auto text = read_file(path, 16384);
  if (!text) return text.error();
  std::string key = *text;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  return key;
}

Result<std::string> prepare_node_files(const LabPlan& plan, const NodePlan& node, const LabPaths& paths,
                                       const std::string& lab_public_key, const std::string& docker_opts) {
  const std::string root = paths.node_root(node.host);
  if (auto r = write_text(root + "/etc/hostname", node.host + "\n"); !r) return r.error();
  if (auto r = write_text(root + "/etc/hosts", hosts_text(plan)); !r) return r.error();
  // No resolver: nothing in a node can look up (or reach) a name outside the lab.
  if (auto r = write_text(root + "/etc/resolv.conf", ""); !r) return r.error();
  if (auto r = make_dirs(root + "/root/.ssh", 0700); !r) return r.error();
  chmod((root + "/root/.ssh").c_str(), 0700);
  if (auto r = write_text(root + "/root/.ssh/authorized_keys", lab_public_key + "\n", 0600); !r) return r.error();
  if (!docker_opts.empty())
    if (auto r = write_text(root + "/etc/default/docker", docker_defaults_text(docker_opts)); !r) return r.error();
  const std::string host_key = root + "/etc/ssh/ssh_host_ed25519_key";
  std::remove(host_key.c_str());
  std::remove((host_key + ".pub").c_str());
  auto r = run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + node.host, "-f", host_key},
                       kCommandTimeout);
  if (!r) return r.error();
  return read_public_key(host_key + ".pub");
}

Result<void> write_controller_files(const LabPlan& plan, const LabPaths& paths,
                                    const std::vector<std::string>& host_keys) {
  if (auto r = write_text(paths.known_hosts(), known_hosts_text(plan, host_keys)); !r) return r;
  if (auto r = write_text(paths.ssh_config(), ssh_config_text(plan, paths)); !r) return r;
  for (const char* tool : {"ssh", "scp"}) {
    std::string real = find_program(tool);
    if (real.empty()) continue;
    if (auto r = write_text(paths.bin_dir() + "/" + tool, ssh_wrapper_text(plan.name, tool, real, paths.ssh_config()),
                            0755);
        !r)
      return r;
  }
  return write_text(paths.env_file(), env_text(plan, paths));
}

}  // namespace rs::lab
