// The pure part of a lab: from inventory hosts to namespaces, interfaces, addresses and
// routes. No side effects; everything `lab up` creates is named here first.
//
// Topology (every piece inside a namespace of the lab, none in the machine's own):
//   rslab-NAME_switch      bridge br0 (no address); port nI per node, port ctl
//   rslab-NAME_controller  eth0 = controller address; `lab run` executes here
//   rslab-NAME.HOST        eth0 = the host's ansible_host; systemd-nspawn joins it
// Every node subnet is on-link everywhere (extra routes `dev eth0` for the other subnets);
// no namespace gets a default route, so nothing aimed at a lab address can leave the lab.
#pragma once

#include "agent/run/inventory.hpp"
#include "core/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rs::lab {

constexpr int kDefaultPrefixLength = 24;

struct LabHost {
  std::string name;     // the inventory host name, e.g. "host-a"
  std::string address;  // ansible_host (else the name), e.g. "192.168.1.11"
};

// The lab's view of an inventory the agent parsed: every host with its address, in
// inventory order. The lab boots exactly the hosts `apply` will reach, at the same addresses.
std::vector<LabHost> lab_hosts(const agent::Inventory& inventory);

std::optional<std::uint32_t> parse_ipv4(const std::string& text);
std::string format_ipv4(std::uint32_t address);
// "a.b.c.d/len" of the subnet holding address.
std::string subnet_of(std::uint32_t address, int prefix_length);

// Lab names: 1-16 of [a-z0-9-], starting and ending with a letter or digit.
bool valid_lab_name(const std::string& name);
// Host names: 1-40 of [A-Za-z0-9.-], starting with a letter or digit (a valid hostname).
bool valid_host_name(const std::string& name);

struct NodePlan {
  std::string host;         // inventory name
  std::string address;      // e.g. 192.168.1.11
  std::string cidr;         // e.g. 192.168.1.11/24
  std::string netns;        // e.g. rslab-demo.host-a (also the nspawn machine name)
  std::string switch_port;  // the bridge port in the switch namespace, e.g. n0
  std::vector<std::string> routes;  // the other lab subnets, reached on-link over eth0
};

struct LabPlan {
  std::string name;
  int prefix_length = kDefaultPrefixLength;
  std::string switch_netns;
  std::string controller_netns;
  std::string controller_address;
  std::string controller_cidr;
  std::vector<std::string> controller_routes;
  std::vector<std::string> subnets;  // in first-seen order
  std::vector<NodePlan> nodes;

  std::vector<std::string> all_netns() const;  // switch, controller, then nodes
  const NodePlan* node(const std::string& host) const;
};

inline const char* kBridge = "br0";
inline const char* kControllerPort = "ctl";
inline const char* kNodeInterface = "eth0";

// Validates names and addresses (unique, unicast, not loopback, not a subnet's network or
// broadcast address) and picks the controller address: the highest free host address of
// the first subnet. All problems are listed in one Errc::invalid_argument error.
Result<LabPlan> make_plan(const std::string& lab_name, const std::vector<LabHost>& hosts,
                          int prefix_length = kDefaultPrefixLength);

}  // namespace rs::lab
