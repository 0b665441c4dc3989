#include "agent/run/apply.hpp"

#include "agent/host/host_context.hpp"
#include "agent/host/local_files.hpp"
#include "agent/run/apply_output.hpp"
#include "agent/run/run_input.hpp"
#include "agent/run/runner.hpp"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace rs::agent {
namespace {

std::string run_id() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf) + "-" + std::to_string(::getpid());
}

}  // namespace

namespace {

// One host across the run: its connection (opened at its first play, closed after its
// last), its context (the files this run wrote, for rollback) and its report.
struct HostRun {
  HostReport report;
  std::optional<HostConnection> connection;
  std::optional<ControlMachine> control;  // the context refers to it
  std::unique_ptr<HostContext> context;
  bool contacted = false;
  bool failed = false;  // failed or unreachable: later plays skip it
  std::size_t last_play = 0;
};

// Each play's hosts in its pattern's order (`registry:all` puts the registry first): indexes
// into `plans`, only hosts whose plan has the play.
std::vector<std::size_t> play_order(const Inventory& inventory, const Play& play, const std::vector<HostPlan>& plans) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < plans.size(); ++i) index.emplace(plans[i].host->name, i);
  std::vector<std::size_t> order;
  auto matched = inventory.match(play.hosts);  // matched once already by plan(): no error here
  if (!matched) return order;
  for (const auto& name : *matched)
    if (auto it = index.find(name); it != index.end())
      for (const auto& pp : plans[it->second].plays)
        if (pp.play == &play) order.push_back(it->second);
  return order;
}

PlannedPlay* planned(HostPlan& plan, const Play& play) {
  for (auto& pp : plan.plays)
    if (pp.play == &play) return &pp;
  return nullptr;
}

std::string host_list(const std::vector<HostRun>& runs, const std::vector<std::size_t>& hosts) {
  std::string text;
  for (auto i : hosts) text += (text.empty() ? "" : ", ") + runs[i].report.host;
  return text;
}

}  // namespace

int run_apply(const ApplyOptions& options, Connector& connector, std::ostream& out, std::ostream& err) {
  // Parse once, validate everything, then act.
  auto input = load_or_report("apply", options, out, err);
  if (!input) return kExitUsage;
  auto& plans = input->plans;

  const std::string id = run_id();
  std::mutex print_mutex;
  auto print = [&](const std::string& text) {
    if (options.json) return;
    std::lock_guard lock(print_mutex);
    out << text << std::flush;
  };
  print(std::string(options.check ? "CHECK (nothing will be changed) " : "") + "playbook '" + options.playbook +
        "' on " + std::to_string(plans.size()) + " host(s), " + std::to_string(options.forks) + " at a time\n");

  LocalFiles here("/");
  std::vector<HostRun> runs(plans.size());
  for (std::size_t i = 0; i < plans.size(); ++i) {
    runs[i].report.host = plans[i].host->name;
    const auto& last = plans[i].plays.back().play;
    for (std::size_t p = 0; p < input->playbook->plays.size(); ++p)
      if (&input->playbook->plays[p] == last) runs[i].last_play = p;
  }
  std::atomic<std::size_t> finished{0};
  auto close = [&](HostRun& run) {
    run.context.reset();
    if (run.connection && run.connection->close) run.connection->close();
    run.connection.reset();
  };

  // One play on one host: connect on its first play, run, close after its last.
  auto run_on = [&](std::size_t i, const Play& play, std::size_t play_index) {
    auto& run = runs[i];
    const auto& name = run.report.host;
    if (!run.contacted) {
      run.contacted = true;
      print("[" + name + "] connecting (" + connection_label(*plans[i].host) + ")\n");
      auto conn = connector.connect(*plans[i].host);
      if (!conn) {
        run.report.unreachable = true;
        run.report.message = conn.error().message;
        run.failed = true;
        print("unreachable: [" + name + "] => " + run.report.message + "\n");
      } else {
        run.connection = std::move(*conn);
        auto& c = *run.connection;
        run.control.emplace(ControlMachine{&here, options.self_binary, c.probe_registry, 10});
        run.context = std::make_unique<HostContext>(name, c.address, *c.files, *c.commands, *c.systemd, id, *run.control);
      }
    }
    if (run.context)
      run.failed = run_play(*planned(plans[i], play), *run.context, RunOptions{options.check}, [&](const std::string& host, const TaskReport& t) {
        print(task_line(host, t, options.diff || options.verbosity > 0));
      }, run.report, run.failed);
    if (play_index == run.last_play) {
      close(run);
      print("[" + name + "] done (" + std::to_string(++finished) + "/" + std::to_string(plans.size()) + " hosts)\n");
    }
  };

  // Play after play (as Ansible's linear strategy); a play's hosts in batches (serial), a
  // batch's hosts in parallel, --forks at a time.
  std::string stopped;
  const auto& plays = input->playbook->plays;
  for (std::size_t p = 0; p < plays.size() && stopped.empty(); ++p) {
    const auto& play = plays[p];
    std::vector<std::size_t> hosts;
    for (auto i : play_order(*input->inventory, play, plans)) {
      if (!runs[i].failed) {
        hosts.push_back(i);
        continue;
      }
      // As Ansible: a host that failed or was unreachable takes no part in later plays.
      if (!runs[i].report.unreachable) skip_play(*planned(plans[i], play), "an earlier task failed on this host", runs[i].report);
      if (p == runs[i].last_play) close(runs[i]);
    }
    const auto sizes = play.rolling.batches(hosts.size());
    std::size_t from = 0;
    for (std::size_t b = 0; b < sizes.size(); ++b) {
      std::vector<std::size_t> batch(hosts.begin() + from, hosts.begin() + from + sizes[b]);
      from += sizes[b];
      if (sizes.size() > 1)
        print("PLAY [" + play.name + "] batch " + std::to_string(b + 1) + "/" + std::to_string(sizes.size()) + ": " +
              host_list(runs, batch) + "\n");
      for_each_host(batch.size(), options.forks, [&](std::size_t k) { run_on(batch[k], play, p); });
      std::vector<std::size_t> failed;
      for (auto i : batch)
        if (runs[i].failed) failed.push_back(i);
      if (play.rolling.stops(failed.size(), batch.size())) {
        stopped = "play '" + play.name + "'" + (sizes.size() > 1 ? " batch " + std::to_string(b + 1) : "") +
                  " failed on " + std::to_string(failed.size()) + " of " + std::to_string(batch.size()) +
                  " host(s) (" + host_list(runs, failed) + ")" +
                  (play.rolling.describe().empty() ? "" : ", " + play.rolling.describe());
        break;
      }
    }
  }

  std::vector<HostReport> reports;
  std::vector<std::string> untouched;
  for (auto& run : runs) {
    close(run);
    if (!run.contacted) {
      run.report.untouched = true;
      run.report.message = "never touched: the run stopped after " + stopped;
      untouched.push_back(run.report.host);
    }
    reports.push_back(std::move(run.report));
  }

  bool any_failed = !stopped.empty(), any_unreachable = false;
  for (const auto& r : reports) {
    any_failed = any_failed || r.failed();
    any_unreachable = any_unreachable || r.unreachable;
  }
  // As Ansible: unreachable (4) wins over failed (2).
  int code = any_unreachable ? kExitUnreachable : any_failed ? kExitHostFailed : kExitOk;
  if (options.json) {
    out << render_apply_json(reports, options, code, stopped);
  } else {
    print(render_recap(reports));
    if (!stopped.empty()) {
      std::string names;
      for (const auto& n : untouched) names += (names.empty() ? "" : ", ") + n;
      print("\nSTOPPED: " + stopped + (untouched.empty() ? "" : "; never touched: " + names) + "\n");
    }
  }
  return code;
}

}  // namespace rs::agent
