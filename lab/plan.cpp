#include "lab/plan.hpp"

#include <algorithm>
#include <charconv>
#include <set>

namespace rs::lab {
namespace {

std::uint32_t mask_of(int prefix_length) {
  return prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length);
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// All problems in one error, one per line.
Error invalid(const std::vector<std::string>& problems) {
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "\n") + p;
  return make_error(Errc::invalid_argument, message);
}

// What is wrong with the lab as a whole (its name, the prefix length, no hosts).
std::vector<std::string> lab_problems(const std::string& lab_name, const std::vector<LabHost>& hosts,
                                      int prefix_length) {
  std::vector<std::string> problems;
  if (!valid_lab_name(lab_name))
    problems.push_back("lab name '" + lab_name + "': use 1-16 of a-z, 0-9 and '-' (not first or last)");
  if (prefix_length < 8 || prefix_length > 30)
    problems.push_back("prefix length " + std::to_string(prefix_length) + ": use 8 to 30");
  if (hosts.empty()) problems.push_back("no hosts: a lab needs at least one");
  return problems;
}

// Checks one host against the rules and the hosts before it (`names`, `used`), adding
// what is wrong to `problems`. Its address, or nullopt when it is not an IPv4 address.
std::optional<std::uint32_t> check_host(const LabHost& h, int prefix_length, std::set<std::string>& names,
                                        std::set<std::uint32_t>& used, std::vector<std::string>& problems) {
  const std::string who = "host '" + h.name + "'";
  if (!valid_host_name(h.name)) problems.push_back(who + ": a lab host name uses letters, digits, '-' and '.' (at most 40)");
  if (!names.insert(h.name).second) problems.push_back(who + ": listed twice");
  auto a = parse_ipv4(h.address);
  if (!a) {
    problems.push_back(who + ": '" + h.address + "' is not an IPv4 address");
    return std::nullopt;
  }
  std::uint32_t first = *a >> 24;
  if (first == 0 || first == 127 || first >= 224)
    problems.push_back(who + ": " + h.address + " is not a unicast host address (loopback, zero, multicast)");
  const std::uint32_t mask = mask_of(prefix_length);
  std::uint32_t host_bits = *a & ~mask;
  if (host_bits == 0 || host_bits == (~mask))
    problems.push_back(who + ": " + h.address + " is the network or broadcast address of " +
                       subnet_of(*a, prefix_length));
  if (!used.insert(*a).second) problems.push_back(who + ": address " + h.address + " is used twice");
  return a;
}

// The node of the index-th host: its namespace and its port on the switch (routes come later).
NodePlan node_plan(const std::string& prefix, const std::string& host, std::uint32_t address, int prefix_length,
                   std::size_t index) {
  NodePlan node;
  node.host = host;
  node.address = format_ipv4(address);
  node.cidr = node.address + "/" + std::to_string(prefix_length);
  // Appended, not `prefix + "." + host`: g++ 12 -O3 warns falsely on that (GCC bug 105329).
  node.netns = prefix;
  node.netns += '.';
  node.netns += host;
  node.switch_port = "n";
  node.switch_port += std::to_string(index);
  return node;
}

// The controller takes the highest free host address of the subnet at `base`.
std::optional<std::uint32_t> controller_address(std::uint32_t base, std::uint32_t mask,
                                                const std::set<std::uint32_t>& used) {
  std::uint32_t broadcast = base | ~mask;
  for (std::uint32_t a = broadcast - 1; a > base; --a)
    if (!used.count(a)) return a;
  return std::nullopt;
}

}  // namespace

std::optional<std::uint32_t> parse_ipv4(const std::string& text) {
  std::uint32_t value = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    // No leading zeros ("010" reads as octal in some tools).
    if (*p == '0' && p + 1 != end && p[1] >= '0' && p[1] <= '9') return std::nullopt;
    unsigned octet = 0;
    auto [next, ec] = std::from_chars(p, end, octet);
    if (ec != std::errc() || octet > 255) return std::nullopt;
    p = next;
    value = (value << 8) | octet;
  }
  if (p != end) return std::nullopt;
  return value;
}

std::string format_ipv4(std::uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
         "." + std::to_string(a & 255);
}

std::string subnet_of(std::uint32_t address, int prefix_length) {
  return format_ipv4(address & mask_of(prefix_length)) + "/" + std::to_string(prefix_length);
}

bool valid_lab_name(const std::string& name) {
  if (name.empty() || name.size() > 16) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return name.front() != '-' && name.back() != '-';
}

bool valid_host_name(const std::string& name) {
  if (name.empty() || name.size() > 40 || !is_alnum(name.front())) return false;
  for (char c : name)
    if (!(is_alnum(c) || c == '-' || c == '.')) return false;
  return name.back() != '.' && name.find("..") == std::string::npos;
}

std::vector<std::string> LabPlan::all_netns() const {
  std::vector<std::string> out{switch_netns, controller_netns};
  for (const auto& n : nodes) out.push_back(n.netns);
  return out;
}

const NodePlan* LabPlan::node(const std::string& host) const {
  for (const auto& n : nodes)
    if (n.host == host) return &n;
  return nullptr;
}

std::vector<LabHost> lab_hosts(const agent::Inventory& inventory) {
  std::vector<LabHost> hosts;
  for (const auto& h : inventory.hosts()) hosts.push_back(LabHost{h.name, h.address});
  return hosts;
}

Result<LabPlan> make_plan(const std::string& lab_name, const std::vector<LabHost>& hosts, int prefix_length) {
  if (auto problems = lab_problems(lab_name, hosts, prefix_length); !problems.empty()) return invalid(problems);

  LabPlan plan;
  plan.name = lab_name;
  plan.prefix_length = prefix_length;
  const std::string prefix = "rslab-" + lab_name;
  plan.switch_netns = prefix + "_switch";
  plan.controller_netns = prefix + "_controller";
  const std::uint32_t mask = mask_of(prefix_length);

  std::vector<std::string> problems;
  std::set<std::string> names;
  std::set<std::uint32_t> used;
  std::vector<std::uint32_t> subnet_bases;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    auto address = check_host(hosts[i], prefix_length, names, used, problems);
    if (!address) continue;
    std::uint32_t base = *address & mask;
    if (std::find(subnet_bases.begin(), subnet_bases.end(), base) == subnet_bases.end()) subnet_bases.push_back(base);
    plan.nodes.push_back(node_plan(prefix, hosts[i].name, *address, prefix_length, i));
  }
  if (!problems.empty()) return invalid(problems);

  for (auto base : subnet_bases) plan.subnets.push_back(subnet_of(base, prefix_length));
  for (auto& node : plan.nodes) {
    std::string own = subnet_of(*parse_ipv4(node.address), prefix_length);
    for (const auto& s : plan.subnets)
      if (s != own) node.routes.push_back(s);
  }

  auto controller = controller_address(subnet_bases.front(), mask, used);
  if (!controller)
    return make_error(Errc::invalid_argument,
                      "subnet " + plan.subnets.front() + " has no free address left for the lab's controller");
  plan.controller_address = format_ipv4(*controller);
  plan.controller_cidr = plan.controller_address + "/" + std::to_string(prefix_length);
  for (std::size_t i = 1; i < plan.subnets.size(); ++i) plan.controller_routes.push_back(plan.subnets[i]);
  return plan;
}

}  // namespace rs::lab
