#include "agent/run/run_input.hpp"

#include "agent/run/registry_vars.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace rs::agent {

RunInput load_run_input(const std::string& inventory_path, const std::string& playbook_path, const std::string& limit,
                        Problems& problems) {
  RunInput in;
  auto inventory = Inventory::load(inventory_path, problems, derive_registry_vars);
  auto playbook = Playbook::load(playbook_path, problems);
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
    if (selected.empty() && problems.empty()) problems.push_back(Problem{inventory_path, 0, "", "no hosts selected"});
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

std::optional<RunInput> load_or_report(const std::string& command, const std::string& inventory_path,
                                       const std::string& playbook_path, const std::string& limit, bool json,
                                       std::ostream& out, std::ostream& err) {
  Problems problems;
  auto input = load_run_input(inventory_path, playbook_path, limit, problems);
  if (problems.empty()) return input;
  print_problems(command, problems, json, out, err);
  return std::nullopt;
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
