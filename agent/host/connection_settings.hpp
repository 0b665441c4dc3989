// How to reach one host: the inventory's ansible_* connection variables, read once.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rs::agent {

enum class Connection { local, ssh };

struct ConnectionSettings {
  std::string name;  // the inventory's name of the host
  Connection connection = Connection::ssh;
  std::string address;         // ansible_host, else the name
  bool address_given = false;  // ansible_host was set
  std::string user;            // ansible_user, empty = ssh's default
  int port = 22;               // ansible_port
  std::string private_key_file;              // ansible_ssh_private_key_file
  std::vector<std::string> ssh_common_args;  // ansible_ssh_common_args, split on blanks
  // ansible_become*: every command, file and the systemd connection through sudo.
  bool become = false;
  std::string become_user = "root";
  std::optional<std::string> become_password;  // sent on sudo's stdin, never in argv or logs
};

}  // namespace rs::agent
