// Ansible's INI inventories, read as its ini inventory plugin reads them
// (ansible/plugins/inventory/ini.py):
//
//   host-a                              # before any header: group "ungrouped"
//   [clients]                           # [group] (or [group:hosts]): one host per line
//   host-b ansible_user=admin           #   name [k=v ...], split like a shell line
//   www[01:50].example.com:2222         #   ranges expanded (host_range.hpp), host:port
//   [clients:vars]                      # one k=v a line, everything after the first '='
//   registry_port=5000
//   [site:children]                     # one child group a line
//   clients
//
// Comments: a line whose first non-blank is '#' or ';', and on host, header and children
// lines '#' after the text. Values (host line and :vars alike, as the plugin's
// _parse_value) are Python literals when they parse as one (ast.literal_eval): 8080 and
// True are plain scalars, '03#x' a string, [1, 2] a sequence, {'a': 1} a mapping, None a
// null; anything else is the text itself ("FALSE", "10-5", "a b").
#pragma once

#include "agent/run/inventory_source.hpp"
#include "agent/run/problem.hpp"
#include "core/result.hpp"

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>

namespace rs::agent {

inline constexpr std::size_t kMaxIniFileBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxIniLineBytes = 64 * 1024;
// Host entries times (1 + the variables on their line) one file may set, per host it may
// hold: a range repeated on every line is a problem, not minutes of work.
inline constexpr std::size_t kMaxIniAssignmentsPerHost = 16;

// Adds what the INI `text` of `file` says to `into`: groups (declared by a [group] or
// [group:children] header here or by an earlier source), their hosts, children and
// variables, each host's variables. Var.key reads "[clients] host-b" (section and host) or
// "[clients:vars] registry_port", Var.line the 1-based line. Each problem names the file and
// line; reading goes on after one, so every problem is listed. A group named as a child or
// given :vars but never declared, "all" or the group itself as a child, an unknown section
// type, a bad host line or range, a line over kMaxIniLineBytes, and more than `max_hosts`
// hosts in `into` (the rest are not read) are problems. Throws nothing.
void read_ini_inventory(const std::string& text, const std::string& file, InventorySource& into, Problems& problems,
                        std::size_t max_hosts = kMaxInventoryHosts);

// One value as the plugin reads it: a Python literal as a node (numbers in Python's
// spelling, True/False, None as null, tuples and sets as sequences), else `text` itself.
// An error only where Ansible fails too: a list, dict or set as a set member or dict key.
Result<YAML::Node> parse_ini_value(const std::string& text);

}  // namespace rs::agent
