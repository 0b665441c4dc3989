#include "lab/network.hpp"

#include "lab/process.hpp"
#include "lab/system.hpp"

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace rs::lab {
namespace {

using namespace std::chrono_literals;

Result<void> ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_checked(argv, kCommandTimeout);
  if (!r) return r.error();
  return ok();
}

Result<void> set_ip_forward(const std::string& netns, bool on) {
  return in_netns(netns, [on]() -> Result<void> {
    std::ofstream f("/proc/sys/net/ipv4/ip_forward");
    f << (on ? "1\n" : "0\n");
    f.flush();
    if (!f) return make_error(Errc::io, "write /proc/sys/net/ipv4/ip_forward");
    return ok();
  });
}

}  // namespace

Result<void> create_network(const LabPlan& plan, const std::function<Result<void>(const std::string&)>& created) {
  for (const auto& ns : plan.all_netns()) {
    if (auto r = ip({"netns", "add", ns}); !r) return r;
    if (auto r = created(ns); !r) return r;
    // A new namespace inherits the machine's IPv4 settings: start every lab host at 0.
    if (auto r = set_ip_forward(ns, false); !r) return r.error().with_context("namespace '" + ns + "'");
    if (auto r = ip({"-n", ns, "link", "set", "lo", "up"}); !r) return r;
  }
  const std::string& sw = plan.switch_netns;
  if (auto r = ip({"-n", sw, "link", "add", kBridge, "type", "bridge"}); !r) return r;
  if (auto r = ip({"-n", sw, "link", "set", kBridge, "up"}); !r) return r;

  // One veth pair per host: the port end stays in the switch, eth0 goes straight into the
  // host's namespace (nothing is ever created in the machine's namespace).
  auto attach = [&](const std::string& port, const std::string& netns, const std::string& cidr,
                    const std::vector<std::string>& routes) -> Result<void> {
    if (auto r = ip({"-n", sw, "link", "add", port, "type", "veth", "peer", "name", kNodeInterface, "netns", netns});
        !r)
      return r;
    if (auto r = ip({"-n", sw, "link", "set", port, "master", kBridge, "up"}); !r) return r;
    if (auto r = ip({"-n", netns, "addr", "add", cidr, "dev", kNodeInterface}); !r) return r;
    if (auto r = ip({"-n", netns, "link", "set", kNodeInterface, "up"}); !r) return r;
    for (const auto& subnet : routes)
      if (auto r = ip({"-n", netns, "route", "add", subnet, "dev", kNodeInterface, "scope", "link"}); !r) return r;
    return ok();
  };
  if (auto r = attach(kControllerPort, plan.controller_netns, plan.controller_cidr, plan.controller_routes); !r)
    return r;
  for (const auto& node : plan.nodes)
    if (auto r = attach(node.switch_port, node.netns, node.cidr, node.routes); !r) return r;
  return ok();
}

Result<void> delete_netns(const std::string& netns) {
  if (!netns_exists(netns)) return ok();
  return ip({"netns", "del", netns});
}

std::vector<std::string> lab_netns_on_machine(const std::string& lab_name) {
  std::vector<std::string> out;
  std::error_code ec;
  const std::string dot = "rslab-" + lab_name + ".", underscore = "rslab-" + lab_name + "_";
  for (const auto& entry : fs::directory_iterator("/run/netns", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(dot, 0) == 0 || name.rfind(underscore, 0) == 0) out.push_back(name);
  }
  return out;
}

}  // namespace rs::lab
