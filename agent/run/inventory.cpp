#include "agent/run/inventory.hpp"

#include "agent/run/host_pattern.hpp"
#include "agent/run/host_range.hpp"
#include "agent/run/inventory_ini.hpp"
#include "agent/run/yaml_file.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <functional>
#include <sstream>

namespace rs::agent {
namespace {

constexpr int kMaxGroupDepth = 64;           // children of children ...
constexpr std::size_t kMaxInventorySources = 64;  // -i given this often
constexpr std::size_t kMaxDirEntries = 1000;      // files of an inventory or vars directory
constexpr int kMaxVarsDirDepth = 8;               // group_vars/NAME/sub/...

std::optional<int> to_int(const std::string& s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Ansible's YAML inventory into a source: groups nest under children, keys under a host are
// its variables, vars at any level; host names may be ranges ("node[01:08]").
class YamlReader {
 public:
  YamlReader(std::string file, InventorySource& into, Problems& problems)
      : file_(std::move(file)), src_(into), problems_(problems) {}

  void read(const YAML::Node& root) {
    src_.group("all");
    for (auto it = root.begin(); it != root.end(); ++it) {
      auto name = it->first.as<std::string>();
      // Ansible puts other top-level groups under "all".
      if (name != "all") src_.add_child("all", name);
      read_group(name, it->second, name, 0);
    }
  }

 private:
  void problem(const YAML::Node& at, const std::string& key, const std::string& message) {
    problems_.push_back(Problem{file_, line_of(at), key, message});
  }

  void read_vars(const YAML::Node& node, const std::string& key, Vars& into) {
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) return problem(node, key, "vars must be a mapping");
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto name = it->first.as<std::string>();
      set_var(into, name, Var{it->second, file_, line_of(it->first), key + "." + name});
    }
  }

  void read_hosts(const std::string& group, const YAML::Node& v, const std::string& key) {
    if (v.IsNull()) return;
    if (!v.IsMap()) return problem(v, key, "hosts must be a mapping of host names");
    for (auto h = v.begin(); h != v.end(); ++h) {
      auto pattern = h->first.as<std::string>();
      const YAML::Node vars = h->second;
      const bool mapping = vars.IsNull() || vars.IsMap();
      if (!mapping) problem(vars, key + "." + pattern, "host variables must be a mapping");
      auto names = expand_host_range(pattern, kMaxInventoryHosts - std::min(kMaxInventoryHosts, src_.host_count()));
      if (!names) {
        problem(h->first, key + "." + pattern, names.error().message);
        continue;
      }
      for (const auto& host : *names) {
        auto& into = src_.add_host(group, host);
        if (mapping) read_vars(vars, key + "." + pattern, into);
      }
    }
  }

  void read_group(const std::string& name, const YAML::Node& node, const std::string& key, int depth) {
    src_.group(name);
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) return problem(node, key, "a group must be a mapping with hosts, vars or children");
    // Children nest in the file: a deeper tree than any inventory has is refused, not followed.
    if (depth > kMaxGroupDepth) return problem(node, key, "groups nest deeper than " + std::to_string(kMaxGroupDepth));
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto k = it->first.as<std::string>();
      // A copy: it->second lives in a proxy that dies with this statement.
      const YAML::Node v = it->second;
      std::string sub = key + "." + k;
      if (k == "vars") {
        read_vars(v, sub, src_.group(name).vars);
      } else if (k == "hosts") {
        read_hosts(name, v, sub);
      } else if (k == "children") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) {
          problem(v, sub, "children must be a mapping of group names");
          continue;
        }
        for (auto c = v.begin(); c != v.end(); ++c) {
          auto child = c->first.as<std::string>();
          if (!src_.add_child(name, child)) {
            problem(c->first, sub + "." + child, "a group cannot contain '" + child + "'");
            continue;
          }
          read_group(child, c->second, sub + "." + child, depth + 1);
        }
      } else {
        problem(it->first, sub, "unknown key (a group has hosts, vars and children)");
      }
    }
  }

  std::string file_;
  InventorySource& src_;
  Problems& problems_;
};

// Ansible's booleans: yes/no, true/false, on/off, 1/0 (any case); nullopt for anything else.
std::optional<bool> ansible_bool(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "yes" || s == "true" || s == "on" || s == "1" || s == "y" || s == "t") return true;
  if (s == "no" || s == "false" || s == "off" || s == "0" || s == "n" || s == "f") return false;
  return std::nullopt;
}

// The first of `names` the host sets (Ansible's aliases of one variable).
std::string first_var(const InventoryHost& host, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (host.vars.count(n)) return n;
  return {};
}

void read_become(InventoryHost& host, Problems& problems) {
  if (auto var = first_var(host, {"ansible_become", "ansible_sudo"}); !var.empty())
    if (auto s = scalar_var(host, var, problems)) {
      auto b = ansible_bool(*s);
      if (!b) var_problem(host, var, "'" + *s + "' is not a boolean (yes/no, true/false)", problems);
      host.become = b.value_or(false);
    }
  if (auto s = scalar_var(host, "ansible_become_method", problems); s && *s != "sudo")
    var_problem(host, "ansible_become_method",
                "'" + *s + "' is not supported (sudo is; su and others need a terminal this tool does not give)", problems);
  if (auto var = first_var(host, {"ansible_become_user", "ansible_sudo_user"}); !var.empty())
    if (auto s = scalar_var(host, var, problems)) {
      if (s->empty() || s->find_first_of(" \t@:/") != std::string::npos || (*s)[0] == '-')
        var_problem(host, var, "'" + *s + "' is not a user name", problems);
      else
        host.become_user = *s;
    }
  if (auto var = first_var(host, {"ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"}); !var.empty())
    if (auto s = scalar_var(host, var, problems)) {
      if (s->find_first_of("\n\r") != std::string::npos) var_problem(host, var, "must be one line", problems);
      else host.become_password = *s;
    }
}

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
  if (auto it = index_.find(host); it != index_.end()) set_var(hosts_[it->second].vars, name, var);
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

// Where the variables of group_vars/, host_vars/ and -e sit in the merge, by precedence.
struct Inventory::Layers {
  std::map<std::string, Vars> group_files;  // group_vars/<group>, every vars directory merged
  std::map<std::string, Vars> host_files;   // host_vars/<host>
  Vars extra;                               // -e
};

namespace {

namespace fs = std::filesystem;

bool ends_with_any(const std::string& name, std::initializer_list<const char*> suffixes) {
  for (const char* s : suffixes)
    if (name.ends_with(s)) return true;
  return false;
}

// Files Ansible leaves out of an inventory directory (its inventory_ignore_extensions).
bool ignored_in_inventory_dir(const std::string& name) {
  return name.empty() || name[0] == '.' || name == "group_vars" || name == "host_vars" ||
         ends_with_any(name, {"~", ".orig", ".ini", ".cfg", ".retry", ".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md",
                              ".txt", ".rst"});
}

// Entries of `dir`, sorted, at most kMaxDirEntries; more is a problem.
std::vector<fs::path> sorted_entries(const fs::path& dir, Problems& problems) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (out.size() == kMaxDirEntries) {
      problems.push_back(Problem{dir.string(), 0, "", "more than " + std::to_string(kMaxDirEntries) + " entries"});
      break;
    }
    out.push_back(it->path());
  }
  if (ec) problems.push_back(Problem{dir.string(), 0, "", "cannot read the directory: " + ec.message()});
  std::sort(out.begin(), out.end());
  return out;
}

// A YAML file of variables (group_vars/host_vars, -e @FILE): a mapping, or empty.
void read_vars_file(const std::string& path, Vars& into, Problems& problems) {
  auto text = read_yaml_file(path, "variables", problems);
  if (!text) return;
  auto doc = load_yaml(*text, path, problems);
  if (!doc || doc->IsNull()) return;
  if (!doc->IsMap()) return problems.push_back(Problem{path, line_of(*doc), "", "variables must be a mapping"});
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    auto name = it->first.as<std::string>();
    set_var(into, name, Var{it->second, path, line_of(it->first), name});
  }
}

// Ansible's vars files for NAME in `dir` (group_vars or host_vars): NAME, NAME.yml,
// NAME.yaml, NAME.json, and every such file under a directory NAME/, sorted.
void read_vars_for(const fs::path& dir, const std::string& name, Vars& into, Problems& problems, int depth = 0) {
  std::error_code ec;
  for (const char* ext : {"", ".yml", ".yaml", ".json"}) {
    fs::path file = dir / (name + ext);
    if (fs::is_directory(file, ec) && *ext == '\0') {
      if (depth >= kMaxVarsDirDepth) {
        problems.push_back(Problem{file.string(), 0, "", "directories nest too deep"});
        continue;
      }
      for (const auto& entry : sorted_entries(file, problems)) {
        auto leaf = entry.filename().string();
        if (leaf.empty() || leaf[0] == '.') continue;
        if (fs::is_directory(entry, ec)) read_vars_for(file, leaf, into, problems, depth + 1);
        else if (ends_with_any(leaf, {".yml", ".yaml", ".json"}) || leaf.find('.') == std::string::npos)
          read_vars_file(entry.string(), into, problems);
      }
    } else if (fs::is_regular_file(file, ec)) {
      read_vars_file(file.string(), into, problems);
    }
  }
}

// "k=v k2='v 2'" as Ansible's -e reads it: blank-separated, quotes kept together.
void read_key_values(const std::string& text, Vars& into, Problems& problems) {
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool in_word = false;
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
      else word += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote) return problems.push_back(Problem{"-e", 0, "", "unclosed quote in '" + text + "'"});
  if (in_word) words.push_back(word);
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      problems.push_back(Problem{"-e", 0, "", "'" + w + "' is not key=value"});
      continue;
    }
    auto name = w.substr(0, eq);
    set_var(into, name, Var{YAML::Node(w.substr(eq + 1)), "(-e)", 0, name});
  }
}

void read_extra_vars(const std::string& arg, Vars& into, Problems& problems) {
  if (arg.starts_with("@")) return read_vars_file(arg.substr(1), into, problems);
  auto first = arg.find_first_not_of(" \t\n");
  if (first == std::string::npos || arg[first] != '{') return read_key_values(arg, into, problems);
  auto doc = load_yaml(arg, "-e", problems);
  if (!doc) return;
  if (!doc->IsMap()) return problems.push_back(Problem{"-e", 0, "", "'" + arg + "' is not a mapping"});
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    auto name = it->first.as<std::string>();
    set_var(into, name, Var{it->second, "(-e)", 0, name});
  }
}

// YAML for .yml/.yaml/.json; INI for any other extension; a file without one is YAML when it
// reads as a mapping of groups, else INI (Ansible tries its yaml plugin, then ini).
void read_inventory_text(const std::string& text, const std::string& file, InventorySource& into, Problems& problems) {
  const std::string leaf = fs::path(file).filename().string();
  const bool yaml_ext = ends_with_any(leaf, {".yml", ".yaml", ".json"});
  const bool other_ext = !yaml_ext && leaf.find('.') != std::string::npos;
  if (!other_ext) {
    Problems yaml_problems;
    auto doc = load_yaml(text, file, yaml_problems);
    const bool groups = doc && doc->IsMap() && std::all_of(doc->begin(), doc->end(), [](const auto& kv) {
      return kv.second.IsMap() || kv.second.IsNull();
    });
    if (yaml_ext || groups) {
      problems.insert(problems.end(), yaml_problems.begin(), yaml_problems.end());
      if (!doc) return;
      if (!doc->IsMap())
        return problems.push_back(Problem{file, line_of(*doc), "", "the inventory must be a mapping with a group 'all'"});
      try {
        YamlReader(file, into, problems).read(*doc);
      } catch (const YAML::Exception& e) {
        problems.push_back(Problem{file, line_of(e.mark), "", e.msg});
      }
      return;
    }
  }
  read_ini_inventory(text, file, into, problems);
}

void read_inventory_file(const std::string& path, InventorySource& into, Problems& problems) {
  auto text = read_yaml_file(path, "inventory", problems);
  if (text) read_inventory_text(*text, path, into, problems);
}

// A source: a file, or a directory whose files (not the ignored ones) are sources; the
// directory holding group_vars/ and host_vars/ for it is added to `vars_dirs`.
void read_source(const std::string& path, InventorySource& into, std::vector<fs::path>& vars_dirs, Problems& problems) {
  std::error_code ec;
  fs::path p(path);
  fs::path vars_dir;
  if (fs::is_directory(p, ec)) {
    for (const auto& entry : sorted_entries(p, problems)) {
      auto leaf = entry.filename().string();
      if (ignored_in_inventory_dir(leaf) || fs::is_directory(entry, ec)) continue;
      read_inventory_file(entry.string(), into, problems);
    }
    vars_dir = p;
  } else {
    read_inventory_file(path, into, problems);
    vars_dir = fs::absolute(p, ec).parent_path();
  }
  if (std::find(vars_dirs.begin(), vars_dirs.end(), vars_dir) == vars_dirs.end()) vars_dirs.push_back(vars_dir);
}

// Each group's longest distance from "all" (variables merge parents first);
// a group that contains itself through its children is a problem.
bool set_depths(std::map<std::string, InventoryGroup>& groups, const std::string& file, Problems& problems) {
  std::map<std::string, int> state;  // 1 on the path, 2 done
  std::vector<std::string> order;    // reverse post-order: parents before children
  bool ok = true;
  std::function<void(const std::string&, int)> visit = [&](const std::string& g, int depth) {
    if (depth > kMaxGroupDepth) {
      problems.push_back(Problem{file, 0, g, "groups nest deeper than " + std::to_string(kMaxGroupDepth)});
      ok = false;
      return;
    }
    auto& st = state[g];
    if (st == 1) {
      problems.push_back(Problem{file, 0, g, "the group contains itself through its children"});
      ok = false;
      return;
    }
    if (st == 2) return;
    st = 1;
    for (const auto& c : groups[g].children) visit(c, depth + 1);
    st = 2;
    order.push_back(g);
  };
  visit("all", 0);
  // Groups "all" does not reach all have parents: they can only be parents of each other.
  for (const auto& [name, g] : groups)
    if (!state.count(name)) {
      problems.push_back(Problem{file, 0, name, "the group contains itself through its children"});
      ok = false;
    }
  if (!ok) return false;
  for (auto& [name, g] : groups) g.depth = 0;
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    for (const auto& c : groups[*it].children) groups[c].depth = std::max(groups[c].depth, groups[*it].depth + 1);
  return true;
}

}  // namespace

Result<Inventory> Inventory::load(const std::string& path, Problems& problems, const Derive& derive) {
  return load(std::vector<std::string>{path}, {}, problems, derive);
}

Result<Inventory> Inventory::load(const std::vector<std::string>& sources, const std::vector<std::string>& extra_vars,
                                  Problems& problems, const Derive& derive) {
  const std::size_t before = problems.size();
  const std::string file = sources.empty() ? std::string("(no inventory)") : sources.front();
  if (sources.empty()) problems.push_back(Problem{file, 0, "", "no inventory given"});
  if (sources.size() > kMaxInventorySources)
    problems.push_back(Problem{file, 0, "", "more than " + std::to_string(kMaxInventorySources) + " inventory sources"});
  InventorySource source;
  source.group("all");
  source.group("ungrouped");
  std::vector<fs::path> vars_dirs;
  for (std::size_t i = 0; i < sources.size() && i < kMaxInventorySources; ++i)
    read_source(sources[i], source, vars_dirs, problems);

  Layers layers;
  for (const auto& dir : vars_dirs) {
    // Files for groups or hosts the inventory does not have are not read (as Ansible).
    for (const auto& [name, group] : source.groups) read_vars_for(dir / "group_vars", name, layers.group_files[name], problems);
    for (const auto& host : source.host_order) read_vars_for(dir / "host_vars", host, layers.host_files[host], problems);
  }
  for (const auto& e : extra_vars) read_extra_vars(e, layers.extra, problems);
  return resolve(std::move(source), layers, file, problems, derive, before);
}

Result<Inventory> Inventory::parse(const std::string& text, const std::string& file, Problems& problems,
                                   const Derive& derive) {
  const std::size_t before = problems.size();
  InventorySource source;
  source.group("all");
  auto loaded = load_yaml(text, file, problems);
  if (loaded) {
    if (!loaded->IsMap()) {
      problems.push_back(Problem{file, line_of(*loaded), "", "the inventory must be a mapping with a group 'all'"});
    } else {
      try {
        YamlReader(file, source, problems).read(*loaded);
      } catch (const YAML::Exception& e) {
        problems.push_back(Problem{file, line_of(e.mark), "", e.msg});
      }
    }
  }
  return resolve(std::move(source), Layers{}, file, problems, derive, before);
}

Result<Inventory> Inventory::resolve(InventorySource source, const Layers& layers, const std::string& file,
                                     Problems& problems, const Derive& derive, std::size_t before) {
  auto invalid = [&] { return make_error(Errc::invalid_argument, "inventory '" + file + "' is invalid"); };
  // Reading problems do not stop here: the hosts read are checked too, so all are listed.
  source.group("ungrouped");
  if (source.host_count() > kMaxInventoryHosts)
    problems.push_back(Problem{file, 0, "", "more than " + std::to_string(kMaxInventoryHosts) + " hosts"});

  // As Ansible: every group without a parent is a child of "all"; hosts in no group but
  // "all" are in "ungrouped".
  std::set<std::string> has_parent;
  for (const auto& [name, g] : source.groups) has_parent.insert(g.children.begin(), g.children.end());
  std::vector<std::string> orphans;
  for (const auto& [name, g] : source.groups)
    if (name != "all" && !has_parent.count(name)) orphans.push_back(name);
  for (const auto& g : orphans) source.add_child("all", g);
  std::set<std::string> grouped;
  for (const auto& [name, g] : source.groups)
    if (name != "all") grouped.insert(g.hosts.begin(), g.hosts.end());
  for (const auto& h : std::vector<std::string>(source.host_order))
    if (!grouped.count(h)) source.add_host("ungrouped", h);
  if (!set_depths(source.groups, file, problems)) return invalid();

  Inventory inv;
  inv.file_ = file;
  inv.groups_ = std::move(source.groups);
  for (const auto& [name, group] : inv.groups_)
    if (name != "all" && source.host_vars.count(name)) problems.push_back(Problem{file, 0, name, "is both a group and a host"});

  std::map<std::string, std::set<std::string>> parents;
  for (const auto& [name, g] : inv.groups_)
    for (const auto& c : g.children) parents[c].insert(name);
  // Each host's own groups, found once: ranges make inventories of thousands of hosts.
  std::map<std::string, std::vector<std::string>> direct;
  for (const auto& [name, g] : inv.groups_)
    for (const auto& h : g.hosts) direct[h].push_back(name);

  for (const auto& name : source.host_order) {
    InventoryHost host;
    host.name = name;
    // Every group the host is in: its direct groups and their ancestors.
    std::function<void(const std::string&)> add = [&](const std::string& g) {
      if (!host.groups.insert(g).second) return;
      for (const auto& p : parents[g]) add(p);
    };
    for (const auto& g : direct[name]) add(g);
    host.groups.insert("all");

    std::vector<const InventoryGroup*> ordered;
    for (const auto& g : host.groups) ordered.push_back(&inv.groups_.at(g));
    std::stable_sort(ordered.begin(), ordered.end(), [](const InventoryGroup* a, const InventoryGroup* b) {
      return a->depth != b->depth ? a->depth < b->depth : a->name < b->name;
    });
    auto merge = [&](const Vars& vars) {
      for (const auto& [k, v] : vars) set_var(host.vars, k, v);
    };
    auto layer = [](const std::map<std::string, Vars>& m, const std::string& key) -> const Vars* {
      auto it = m.find(key);
      return it == m.end() ? nullptr : &it->second;
    };
    for (const auto* g : ordered) merge(g->vars);
    for (const auto* g : ordered)
      if (auto* v = layer(layers.group_files, g->name)) merge(*v);
    merge(source.host_vars[name]);
    if (auto* v = layer(layers.host_files, name)) merge(*v);
    merge(layers.extra);

    validate_host(host, problems);
    host.connection = host.var_string("ansible_connection", "ssh") == "local" ? Connection::local : Connection::ssh;
    host.address = host.var_string("ansible_host", name);
    host.address_given = host.vars.count("ansible_host") > 0;
    host.user = host.var_string("ansible_user");
    host.port = parse_port(host.var_string("ansible_port", "22")).value_or(22);
    host.private_key_file = host.var_string("ansible_ssh_private_key_file");
    std::istringstream args(host.var_string("ansible_ssh_common_args"));
    for (std::string a; args >> a;) host.ssh_common_args.push_back(a);
    read_become(host, problems);
    inv.hosts_.push_back(std::move(host));
  }

  for (std::size_t i = 0; i < inv.hosts_.size(); ++i) inv.index_.emplace(inv.hosts_[i].name, i);
  if (derive) derive(inv, problems);
  // The same inherited variable is reported once, not once per host.
  unique_problems(problems, before);
  if (problems.size() > before) return invalid();
  return inv;
}

const InventoryHost* Inventory::host(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &hosts_[it->second];
}

std::vector<std::string> Inventory::group_hosts(const std::string& group) const {
  std::vector<std::string> out;
  for (const auto& h : hosts_)
    if (h.groups.count(group)) out.push_back(h.name);
  return out;
}

Result<std::vector<std::string>> Inventory::match(const std::string& pattern) const {
  PatternHosts hosts;
  hosts.reserve(hosts_.size());
  for (const auto& h : hosts_) hosts.emplace_back(h.name, h.groups);
  std::set<std::string> groups;
  for (const auto& [name, g] : groups_) groups.insert(name);
  return match_host_pattern(pattern, HostPatternView{hosts, groups});
}

}  // namespace rs::agent
