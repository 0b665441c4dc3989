#include "agent/run/playbook.hpp"

#include "agent/run/builtin_playbook.hpp"
#include "agent/run/yaml_file.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <set>

namespace rs::agent {
namespace {

constexpr int kMaxTemplateDepth = 10;

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

Result<YAML::Node> render_depth(const YAML::Node& node, const Vars& vars, int depth);

Result<YAML::Node> render_string(const std::string& s, const Vars& vars, int depth) {
  if (depth > kMaxTemplateDepth) return make_error(Errc::invalid_argument, "variables refer to each other in a loop");
  auto open = s.find("{{");
  if (open == std::string::npos) return YAML::Node(s);
  std::string out;
  std::size_t pos = 0;
  while ((open = s.find("{{", pos)) != std::string::npos) {
    auto close = s.find("}}", open);
    if (close == std::string::npos) return make_error(Errc::invalid_argument, "'{{' without '}}' in '" + s + "'");
    auto name = trim(s.substr(open + 2, close - open - 2));
    auto it = vars.find(name);
    if (it == vars.end()) return make_error(Errc::not_found, "undefined variable '" + name + "'");
    auto value = render_depth(it->second.value, vars, depth + 1);
    if (!value) return value.error().with_context("variable '" + name + "' (" + it->second.key + ")");
    // The whole value is one reference: keep the variable's type (a list stays a list).
    if (open == 0 && close + 2 == s.size() && pos == 0) return *value;
    if (!value->IsScalar()) return make_error(Errc::invalid_argument, "variable '" + name + "' is not a single value");
    out += s.substr(pos, open - pos) + value->as<std::string>();
    pos = close + 2;
  }
  out += s.substr(pos);
  return YAML::Node(out);
}

Result<YAML::Node> render_depth(const YAML::Node& node, const Vars& vars, int depth) {
  if (!node || node.IsNull()) return YAML::Node(YAML::NodeType::Null);
  if (node.IsScalar()) return render_string(node.as<std::string>(), vars, depth);
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) {
      auto r = render_depth(item, vars, depth);
      if (!r) return r.error();
      out.push_back(*r);
    }
    return out;
  }
  YAML::Node out(YAML::NodeType::Map);
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto r = render_depth(it->second, vars, depth);
    if (!r) return r.error().with_context(it->first.as<std::string>());
    out[it->first.as<std::string>()] = *r;
  }
  return out;
}

class Parser {
 public:
  Parser(std::string file, Problems& problems) : file_(std::move(file)), problems_(problems) {}

  void problem(const YAML::Node& at, const std::string& key, const std::string& message) {
    problems_.push_back(Problem{file_, line_of(at), key, message});
  }

  std::vector<std::string> names(const YAML::Node& node, const std::string& key) {
    if (node.IsScalar()) return {node.as<std::string>()};
    std::vector<std::string> out;
    if (node.IsSequence()) {
      for (const auto& n : node) {
        if (!n.IsScalar()) problem(n, key, "must be a handler name");
        else out.push_back(n.as<std::string>());
      }
      return out;
    }
    problem(node, key, "must be a handler name or a list of them");
    return out;
  }

  std::vector<TaskSpec> tasks(const YAML::Node& node, const std::string& key) {
    std::vector<TaskSpec> out;
    if (!node || node.IsNull()) return out;
    if (!node.IsSequence()) {
      problem(node, key, "must be a list of tasks");
      return out;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node& t = node[i];
      TaskSpec spec;
      spec.key = key + "[" + std::to_string(i) + "]";
      spec.line = line_of(t);
      if (!t.IsMap()) {
        problem(t, spec.key, "a task must be a mapping with a name and one module");
        continue;
      }
      bool unknown_key = false;
      for (auto it = t.begin(); it != t.end(); ++it) {
        auto k = it->first.as<std::string>();
        if (k == "name") {
          spec.name = it->second.as<std::string>();
        } else if (k == "notify") {
          spec.notify = names(it->second, spec.key + ".notify");
        } else if (find_module(k)) {
          if (!spec.module.empty()) problem(it->first, spec.key + "." + k, "a task runs one module, this one also has '" + spec.module + "'");
          spec.module = k;
          spec.args = it->second;
          if (!spec.args.IsNull() && !spec.args.IsMap()) problem(it->second, spec.key + "." + k, "module arguments must be a mapping");
        } else {
          std::string known;
          for (const auto& m : modules()) known += (known.empty() ? "" : ", ") + m.name;
          problem(it->first, spec.key + "." + k, "unknown module or keyword (modules: " + known + "; keywords: name, notify)");
          unknown_key = true;
        }
      }
      if (spec.module.empty()) {
        if (!unknown_key) problem(t, spec.key, "names no module");
        continue;
      }
      if (spec.name.empty()) spec.name = spec.module;
      out.push_back(std::move(spec));
    }
    return out;
  }

  std::string file_;
  Problems& problems_;
};

}  // namespace

Result<YAML::Node> render(const YAML::Node& node, const Vars& vars) { return render_depth(node, vars, 0); }

Result<Playbook> Playbook::load(const std::string& path, Problems& problems) {
  if (path == kBuiltinPlaybook) return parse(std::string(builtin_playbook_text()), path, problems);
  auto text = read_yaml_file(path, "playbook", problems);
  if (!text) return text.error();
  return parse(*text, path, problems);
}

Result<Playbook> Playbook::parse(const std::string& text, const std::string& file, Problems& problems) {
  const std::size_t before = problems.size();
  auto invalid = [&] { return make_error(Errc::invalid_argument, "playbook '" + file + "' is invalid"); };
  auto loaded = load_yaml(text, file, problems);
  if (!loaded) return invalid();
  YAML::Node root = *loaded;
  if (!root.IsSequence() || root.size() == 0) {
    problems.push_back(Problem{file, line_of(root), "", "a playbook is a non-empty list of plays"});
    return invalid();
  }
  Playbook book;
  book.file = file;
  Parser parser(file, problems);
  try {
    for (std::size_t i = 0; i < root.size(); ++i) {
      const YAML::Node& p = root[i];
      std::string key = "plays[" + std::to_string(i) + "]";
      if (!p.IsMap()) {
        parser.problem(p, key, "a play must be a mapping with hosts and tasks");
        continue;
      }
      Play play;
      play.line = line_of(p);
      for (auto it = p.begin(); it != p.end(); ++it) {
        auto k = it->first.as<std::string>();
        if (k == "name") play.name = it->second.as<std::string>();
        else if (k == "hosts") play.hosts = it->second.IsScalar() ? it->second.as<std::string>() : "";
        else if (k == "tasks") play.tasks = parser.tasks(it->second, key + ".tasks");
        else if (k == "handlers") play.handlers = parser.tasks(it->second, key + ".handlers");
        else if (k == "vars") {
          if (!it->second.IsMap()) parser.problem(it->second, key + ".vars", "vars must be a mapping");
          else
            for (auto v = it->second.begin(); v != it->second.end(); ++v)
              set_var(play.vars, v->first.as<std::string>(),
                      Var{v->second, file, line_of(v->first), key + ".vars." + v->first.as<std::string>()});
        } else if (k == "serial") {
          if (auto serial = parse_serial(it->second)) play.rolling.serial = std::move(*serial);
          else parser.problem(it->second, key + ".serial", serial.error().message);
        } else if (k == "max_fail_percentage") {
          if (auto limit = parse_max_fail_percentage(it->second)) play.rolling.max_fail_percentage = *limit;
          else parser.problem(it->second, key + ".max_fail_percentage", limit.error().message);
        } else {
          parser.problem(it->first, key + "." + k,
                         "unknown key (a play has name, hosts, vars, tasks, handlers, serial, max_fail_percentage)");
        }
      }
      if (play.hosts.empty()) parser.problem(p, key + ".hosts", "required: a host pattern such as 'all'");
      if (play.name.empty()) play.name = play.hosts;
      std::set<std::string> handler_names;
      for (const auto& h : play.handlers)
        if (!handler_names.insert(h.name).second)
          problems.push_back(Problem{file, h.line, h.key + ".name", "handler '" + h.name + "' is defined twice"});
      for (const auto& t : play.tasks)
        for (const auto& n : t.notify)
          if (!handler_names.count(n))
            problems.push_back(Problem{file, t.line, t.key + ".notify", "no handler named '" + n + "' in this play"});
      book.plays.push_back(std::move(play));
    }
  } catch (const YAML::Exception& e) {
    problems.push_back(Problem{file, line_of(e.mark), "", e.msg});
  }
  if (problems.size() > before) return invalid();
  return book;
}

Result<std::vector<HostPlan>> plan(const Playbook& playbook, const Inventory& inventory,
                                   const std::vector<std::string>& selected, Problems& problems) {
  const std::size_t before = problems.size();
  std::vector<HostPlan> plans;
  std::set<std::string> seen;  // the same problem for many hosts is listed once, with the first
  auto add = [&](Problem p, const std::string& host = {}) {
    if (!seen.insert(p.str()).second) return;
    if (!host.empty()) p.message += " (host '" + host + "')";
    problems.push_back(std::move(p));
  };
  // Each play's hosts, matched once (not once per host: fleets have thousands).
  std::vector<std::optional<std::set<std::string>>> play_hosts;
  for (const auto& play : playbook.plays) {
    auto matched = inventory.match(play.hosts);
    if (!matched) {
      add(Problem{playbook.file, play.line, "hosts", matched.error().message});
      play_hosts.emplace_back();
    } else {
      play_hosts.emplace_back(std::set<std::string>(matched->begin(), matched->end()));
    }
  }
  for (const auto& name : selected) {
    const InventoryHost* host = inventory.host(name);
    if (!host) continue;
    HostPlan hp;
    hp.host = host;
    for (std::size_t p = 0; p < playbook.plays.size(); ++p) {
      const auto& play = playbook.plays[p];
      if (!play_hosts[p] || !play_hosts[p]->count(name)) continue;
      Vars vars = play.vars;
      for (const auto& [k, v] : host->vars) set_var(vars, k, v);
      PlannedPlay pp;
      pp.play = &play;
      auto bind = [&](const TaskSpec& spec, std::vector<PlannedTask>& into) {
        auto args = render(spec.args, vars);
        std::string key = spec.key + "." + spec.module;
        if (!args) {
          add(Problem{playbook.file, spec.line, key, args.error().message}, name);
          return;
        }
        Params::ProblemList arg_problems;
        Params params(*args, arg_problems);
        auto action = find_module(spec.module)->make(params);
        for (const auto& [k, m] : arg_problems)
          add(Problem{playbook.file, spec.line, k.empty() ? key : key + "." + k, m}, name);
        if (action) into.push_back(PlannedTask{&spec, std::move(action)});
      };
      for (const auto& t : play.tasks) bind(t, pp.tasks);
      for (const auto& h : play.handlers) bind(h, pp.handlers);
      hp.plays.push_back(std::move(pp));
    }
    plans.push_back(std::move(hp));
  }
  if (problems.size() > before) return make_error(Errc::invalid_argument, "playbook '" + playbook.file + "' cannot run");
  return plans;
}

}  // namespace rs::agent
