#include "agent/run/apply.hpp"

#include "agent/host/host_context.hpp"
#include "agent/host/local_files.hpp"
#include "agent/run/apply_output.hpp"
#include "agent/run/run_input.hpp"
#include "agent/run/runner.hpp"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <mutex>

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
  std::vector<HostReport> reports(plans.size());
  std::atomic<std::size_t> finished{0};
  for_each_host(plans.size(), options.forks, [&](std::size_t i) {
    auto& hp = plans[i];
    const auto& name = hp.host->name;
    print("[" + name + "] connecting (" + connection_label(*hp.host) + ")\n");
    auto conn = connector.connect(*hp.host);
    HostReport report;
    report.host = name;
    if (!conn) {
      report.unreachable = true;
      report.message = conn.error().message;
      print("unreachable: [" + name + "] => " + report.message + "\n");
    } else {
      ControlMachine control{&here, options.self_binary, conn->probe_registry, 10};
      HostContext ctx(name, conn->address, *conn->files, *conn->commands, *conn->systemd, id, control);
      report = run_host(hp, ctx, RunOptions{options.check}, [&](const std::string& host, const TaskReport& t) {
        print(task_line(host, t, options.diff || options.verbosity > 0));
      });
      if (conn->close) conn->close();
    }
    reports[i] = std::move(report);
    print("[" + name + "] done (" + std::to_string(++finished) + "/" + std::to_string(plans.size()) + " hosts)\n");
  });

  bool any_failed = false, any_unreachable = false;
  for (const auto& r : reports) {
    any_failed = any_failed || r.failed();
    any_unreachable = any_unreachable || r.unreachable;
  }
  // As Ansible: unreachable (4) wins over failed (2).
  int code = any_unreachable ? kExitUnreachable : any_failed ? kExitHostFailed : kExitOk;
  if (options.json) out << render_apply_json(reports, options, code);
  else print(render_recap(reports));
  return code;
}

}  // namespace rs::agent
