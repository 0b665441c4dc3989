#include "agent/run/inventory.hpp"

#include "agent/run/yaml_file.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <sstream>

namespace rs::agent {
namespace {

std::optional<int> to_int(const std::string& s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

class Parser {
 public:
  Parser(std::string file, Problems& problems) : file_(std::move(file)), problems_(problems) {}

  void problem(const YAML::Node& at, const std::string& key, const std::string& message) {
    problems_.push_back(Problem{file_, line_of(at), key, message});
  }

  void parse_vars(const YAML::Node& node, const std::string& key, Vars& into) {
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) return problem(node, key, "vars must be a mapping");
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto name = it->first.as<std::string>();
      set_var(into, name, Var{it->second, file_, line_of(it->first), key + "." + name});
    }
  }

  void parse_group(const std::string& name, const YAML::Node& node, const std::string& key, int depth) {
    auto& group = groups_[name];
    group.name = name;
    group.depth = std::max(group.depth, depth);
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) return problem(node, key, "a group must be a mapping with hosts, vars or children");
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto k = it->first.as<std::string>();
      // A copy: it->second lives in a proxy that dies with this statement.
      const YAML::Node v = it->second;
      std::string sub = key + "." + k;
      if (k == "vars") {
        parse_vars(v, sub, groups_[name].vars);
      } else if (k == "hosts") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) {
          problem(v, sub, "hosts must be a mapping of host names");
          continue;
        }
        for (auto h = v.begin(); h != v.end(); ++h) {
          auto host = h->first.as<std::string>();
          if (std::find(host_order_.begin(), host_order_.end(), host) == host_order_.end())
            host_order_.push_back(host);
          auto& members = groups_[name].hosts;
          if (std::find(members.begin(), members.end(), host) == members.end()) members.push_back(host);
          if (!h->second.IsNull() && !h->second.IsMap())
            problem(h->second, sub + "." + host, "host variables must be a mapping");
          else
            parse_vars(h->second, sub + "." + host, host_vars_[host]);
        }
      } else if (k == "children") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) {
          problem(v, sub, "children must be a mapping of group names");
          continue;
        }
        for (auto c = v.begin(); c != v.end(); ++c) {
          auto child = c->first.as<std::string>();
          if (child == "all" || child == name) {
            problem(c->first, sub + "." + child, "a group cannot contain '" + child + "'");
            continue;
          }
          auto& kids = groups_[name].children;
          if (std::find(kids.begin(), kids.end(), child) == kids.end()) kids.push_back(child);
          parents_[child].insert(name);
          parse_group(child, c->second, sub + "." + child, depth + 1);
        }
      } else {
        problem(it->first, sub, "unknown key (a group has hosts, vars and children)");
      }
    }
  }

  std::string file_;
  Problems& problems_;
  std::map<std::string, InventoryGroup> groups_;
  std::map<std::string, std::set<std::string>> parents_;
  std::map<std::string, Vars> host_vars_;
  std::vector<std::string> host_order_;
};

void validate_host(const InventoryHost& host, Problems& problems) {
  auto bad = [&](const std::string& var, const std::string& message) { var_problem(host, var, message, problems); };
  auto scalar = [&](const std::string& var) { return scalar_var(host, var, problems); };
  auto port = [&](const std::string& var) {
    if (auto s = scalar(var); s && !parse_port(*s)) bad(var, "'" + *s + "' is not a port number (1-65535)");
  };
  port("ansible_port");
  if (auto s = scalar("ansible_connection"); s && *s != "local" && *s != "ssh")
    bad("ansible_connection", "'" + *s + "' is not a supported connection (local, ssh)");
  for (const char* var : {"ansible_host", "ansible_user", "ansible_ssh_private_key_file", "ansible_ssh_common_args"}) {
    if (auto s = scalar(var); s && s->empty()) bad(var, "must not be empty");
  }
  if (auto s = scalar("ansible_host"); s && s->find_first_of(" \t/@") != std::string::npos)
    bad("ansible_host", "'" + *s + "' is not a host name or address");
  if (auto s = scalar("ansible_user"); s && (s->find_first_of(" \t@") != std::string::npos || (*s)[0] == '-'))
    bad("ansible_user", "'" + *s + "' is not a user name");
}

}  // namespace

std::optional<int> parse_port(const std::string& text) {
  auto v = to_int(text);
  if (!v || *v < 1 || *v > 65535) return std::nullopt;
  return v;
}

void var_problem(const InventoryHost& host, const std::string& var, const std::string& message, Problems& problems) {
  const Var& v = host.vars.at(var);
  problems.push_back(Problem{v.file, v.line, v.key, message});
}

std::optional<std::string> scalar_var(const InventoryHost& host, const std::string& var, Problems& problems) {
  auto it = host.vars.find(var);
  if (it == host.vars.end() || !it->second.value) return std::nullopt;
  if (!it->second.value.IsScalar()) {
    var_problem(host, var, "must be a single value", problems);
    return std::nullopt;
  }
  return it->second.value.as<std::string>();
}

void unique_problems(Problems& problems, std::size_t from) {
  std::vector<Problem> unique;
  std::set<std::string> seen;
  for (std::size_t i = from; i < problems.size(); ++i)
    if (seen.insert(problems[i].str()).second) unique.push_back(problems[i]);
  problems.resize(from);
  problems.insert(problems.end(), unique.begin(), unique.end());
}

void Inventory::set_default(const std::string& name, const Var& var) {
  for (auto& host : hosts_)
    if (!host.vars.count(name)) set_var(host.vars, name, var);
}

void Inventory::set_host_var(const std::string& host, const std::string& name, const Var& var) {
  for (auto& h : hosts_)
    if (h.name == host) set_var(h.vars, name, var);
}

std::string InventoryHost::var_string(const std::string& name, const std::string& fallback) const {
  auto it = vars.find(name);
  if (it == vars.end() || !it->second.value || !it->second.value.IsScalar()) return fallback;
  return it->second.value.as<std::string>();
}

bool glob_match(const std::string& pattern, const std::string& text) {
  std::size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<Inventory> Inventory::load(const std::string& path, Problems& problems, const Derive& derive) {
  auto text = read_yaml_file(path, "inventory", problems);
  if (!text) return text.error();
  return parse(*text, path, problems, derive);
}

Result<Inventory> Inventory::parse(const std::string& text, const std::string& file, Problems& problems,
                                 const Derive& derive) {
  const std::size_t before = problems.size();
  auto invalid = [&] { return make_error(Errc::invalid_argument, "inventory '" + file + "' is invalid"); };
  auto loaded = load_yaml(text, file, problems);
  if (!loaded) return invalid();
  YAML::Node root = *loaded;
  if (!root.IsMap()) {
    problems.push_back(Problem{file, line_of(root), "", "the inventory must be a mapping with a group 'all'"});
    return invalid();
  }

  Parser parser(file, problems);
  try {
    parser.parse_group("all", YAML::Node(), "all", 0);
    for (auto it = root.begin(); it != root.end(); ++it) {
      auto name = it->first.as<std::string>();
      if (name != "all") {
        // Ansible puts other top-level groups under "all".
        parser.groups_["all"].children.push_back(name);
        parser.parents_[name].insert("all");
        parser.parse_group(name, it->second, name, 1);
      } else {
        parser.parse_group("all", it->second, "all", 0);
      }
    }
  } catch (const YAML::Exception& e) {
    problems.push_back(Problem{file, line_of(e.mark), "", e.msg});
    return invalid();
  }

  Inventory inv;
  inv.file_ = file;
  inv.groups_ = std::move(parser.groups_);
  for (const auto& [name, group] : inv.groups_) {
    if (inv.groups_.count(name) && parser.host_vars_.count(name) && name != "all")
      problems.push_back(Problem{file, 0, name, "is both a group and a host"});
  }

  for (const auto& name : parser.host_order_) {
    InventoryHost host;
    host.name = name;
    // Every group the host is in: its direct groups and their ancestors.
    std::function<void(const std::string&)> add = [&](const std::string& g) {
      if (!host.groups.insert(g).second) return;
      for (const auto& p : parser.parents_[g]) add(p);
    };
    for (const auto& [gname, group] : inv.groups_)
      if (std::find(group.hosts.begin(), group.hosts.end(), name) != group.hosts.end()) add(gname);
    host.groups.insert("all");

    std::vector<const InventoryGroup*> ordered;
    for (const auto& g : host.groups) ordered.push_back(&inv.groups_.at(g));
    std::stable_sort(ordered.begin(), ordered.end(), [](const InventoryGroup* a, const InventoryGroup* b) {
      return a->depth != b->depth ? a->depth < b->depth : a->name < b->name;
    });
    for (const auto* g : ordered)
      for (const auto& [k, v] : g->vars) set_var(host.vars, k, v);
    for (const auto& [k, v] : parser.host_vars_[name]) set_var(host.vars, k, v);

    validate_host(host, problems);
    host.connection = host.var_string("ansible_connection", "ssh") == "local" ? Connection::local : Connection::ssh;
    host.address = host.var_string("ansible_host", name);
    host.address_given = host.vars.count("ansible_host") > 0;
    host.user = host.var_string("ansible_user");
    host.port = parse_port(host.var_string("ansible_port", "22")).value_or(22);
    host.private_key_file = host.var_string("ansible_ssh_private_key_file");
    std::istringstream args(host.var_string("ansible_ssh_common_args"));
    for (std::string a; args >> a;) host.ssh_common_args.push_back(a);
    inv.hosts_.push_back(std::move(host));
  }

  if (derive) derive(inv, problems);
  // The same inherited variable is reported once, not once per host.
  unique_problems(problems, before);
  if (problems.size() > before) return invalid();
  return inv;
}

const InventoryHost* Inventory::host(const std::string& name) const {
  for (const auto& h : hosts_)
    if (h.name == name) return &h;
  return nullptr;
}

std::vector<std::string> Inventory::group_hosts(const std::string& group) const {
  std::vector<std::string> out;
  for (const auto& h : hosts_)
    if (h.groups.count(group)) out.push_back(h.name);
  return out;
}

Result<std::vector<std::string>> Inventory::match(const std::string& pattern) const {
  std::set<std::string> selected;
  bool first = true;
  std::string token;
  std::vector<std::string> tokens;
  for (char c : pattern) {
    if (c == ':' || c == ',') {
      tokens.push_back(token);
      token.clear();
    } else {
      token += c;
    }
  }
  tokens.push_back(token);
  for (auto t : tokens) {
    if (t.empty()) continue;
    char op = '+';
    if (t[0] == '!' || t[0] == '&') {
      op = t[0];
      t = t.substr(1);
    }
    std::set<std::string> names;
    for (const auto& h : hosts_) {
      bool in = t == "all" || t == "*" || glob_match(t, h.name);
      for (const auto& g : h.groups) in = in || glob_match(t, g);
      if (in) names.insert(h.name);
    }
    if (names.empty() && t.find_first_of("*?") == std::string::npos && !groups_.count(t))
      return make_error(Errc::not_found, "pattern '" + pattern + "': no host or group '" + t + "'");
    if (op == '+') {
      selected.insert(names.begin(), names.end());
    } else if (op == '!') {
      if (first) for (const auto& h : hosts_) selected.insert(h.name);
      for (const auto& n : names) selected.erase(n);
    } else {
      std::set<std::string> keep;
      for (const auto& n : selected)
        if (names.count(n)) keep.insert(n);
      selected = std::move(keep);
    }
    first = false;
  }
  std::vector<std::string> out;
  for (const auto& h : hosts_)
    if (selected.count(h.name)) out.push_back(h.name);
  return out;
}

}  // namespace rs::agent
