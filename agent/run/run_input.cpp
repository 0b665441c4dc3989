#include "agent/run/run_input.hpp"

#include "agent/run/registry_vars.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace rs::agent {

RunInput load_run_input(const HostsOptions& options, Problems& problems) {
  RunInput in;
  const std::string& limit = options.limit;
  auto inventory = Inventory::load(options.inventory, options.extra_vars, problems, derive_registry_vars);
  auto playbook = Playbook::load(options.playbook, problems);
  if (inventory) in.inventory = std::make_unique<Inventory>(std::move(*inventory));
  if (playbook) in.playbook = std::make_unique<Playbook>(std::move(*playbook));
  std::vector<std::string> selected;
  if (in.inventory) {
    auto all = in.inventory->match("all");
    selected = *all;
    if (!limit.empty()) {
      auto limited = in.inventory->match(limit);
      if (!limited) problems.push_back(Problem{"--limit", 0, "", limited.error().message});
      else selected = *limited;
    }
    if (selected.empty() && problems.empty()) problems.push_back(Problem{in.inventory->file(), 0, "", "no hosts selected"});
  }
  if (in.inventory && in.playbook) {
    auto planned = plan(*in.playbook, *in.inventory, selected, problems);
    if (planned) in.plans = std::move(*planned);
  }
  return in;
}

void print_problems(const std::string& command, const Problems& problems, bool json, std::ostream& out,
                    std::ostream& err) {
  if (json) {
    nlohmann::json j = {{"exit_code", 1}, {"problems", nlohmann::json::array()}};
    for (const auto& p : problems)
      j["problems"].push_back({{"file", p.file}, {"line", p.line}, {"key", p.key}, {"message", p.message}});
    out << j.dump(2) << "\n";
  }
  err << "registry-setup " << command << ": nothing was changed; " << problems.size() << " problem"
      << (problems.size() == 1 ? "" : "s") << ":\n";
  for (const auto& p : problems) err << "  " << p.str() << "\n";
}

std::optional<RunInput> load_or_report(const std::string& command, const HostsOptions& options, std::ostream& out,
                                       std::ostream& err) {
  Problems problems;
  auto input = load_run_input(options, problems);
  if (problems.empty()) return input;
  print_problems(command, problems, options.json, out, err);
  return std::nullopt;
}

nlohmann::json inventory_json(const HostsOptions& options) {
  if (options.inventory.size() == 1) return options.inventory.front();
  return options.inventory;
}

int run_list_hosts(const HostsOptions& options, std::ostream& out, std::ostream& err) {
  auto input = load_or_report("apply --list-hosts", options, out, err);
  if (!input) return 1;
  nlohmann::json plays = nlohmann::json::array();
  for (const auto& play : input->playbook->plays) {
    nlohmann::json hosts = nlohmann::json::array();
    for (const auto& hp : input->plans)
      for (const auto& pp : hp.plays)
        if (pp.play == &play) hosts.push_back(hp.host->name);
    plays.push_back({{"name", play.name}, {"pattern", play.hosts}, {"hosts", hosts}});
  }
  if (options.json) {
    out << nlohmann::json{{"playbook", options.playbook}, {"inventory", inventory_json(options)}, {"plays", plays}}.dump(2)
        << "\n";
    return 0;
  }
  out << "\nplaybook: " << options.playbook << "\n";
  for (std::size_t i = 0; i < plays.size(); ++i) {
    const auto& p = plays[i];
    out << "\n  play #" << i + 1 << " (" << p["pattern"].get<std::string>() << "): " << p["name"].get<std::string>()
        << "\n    pattern: " << p["pattern"].get<std::string>() << "\n    hosts (" << p["hosts"].size() << "):\n";
    for (const auto& h : p["hosts"]) out << "      " << h.get<std::string>() << "\n";
  }
  return 0;
}

int run_syntax_check(const HostsOptions& options, std::ostream& out, std::ostream& err) {
  auto input = load_or_report("apply --syntax-check", options, out, err);
  if (!input) return 1;
  if (options.json)
    out << nlohmann::json{{"playbook", options.playbook}, {"inventory", inventory_json(options)}, {"ok", true}}.dump(2)
        << "\n";
  else
    out << "\nplaybook: " << options.playbook << "\n";
  return 0;
}

std::string connection_label(const ConnectionSettings& host) {
  return host.connection == Connection::local ? "local" : "ssh " + host.address;
}

void for_each_host(std::size_t count, int forks, const std::function<void(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < count;) work(i);
  };
  std::vector<std::thread> threads;
  int n = std::max(1, std::min<int>(forks, static_cast<int>(count)));
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
}

}  // namespace rs::agent
