#include "agent/run/apply.hpp"

#include "agent/host/host_context.hpp"
#include "agent/host/http_probe.hpp"
#include "agent/run/run_input.hpp"
#include "agent/run/runner.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
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

std::string indent(const std::string& text, const std::string& prefix) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out += prefix + text.substr(pos, nl - pos) + "\n";
    pos = nl + 1;
  }
  return out;
}

std::string task_line(const std::string& host, const TaskReport& t, bool show_diff) {
  std::string line = std::string(to_string(t.status)) + ": [" + host + "] " + (t.handler ? "HANDLER " : "") + t.task +
                     " (" + t.module + ": " + t.summary + ")";
  if (!t.message.empty()) line += " => " + t.message;
  line += "\n";
  for (const auto& w : t.diff.warnings) line += "  [WARNING] " + w + "\n";
  if (show_diff && t.status != TaskStatus::ok) {
    for (const auto& c : t.diff.changes) line += "  ~ " + c + "\n";
    for (const auto& f : t.diff.files) line += indent(render_file_diff(f), "  ");
  }
  return line;
}

nlohmann::json task_json(const TaskReport& t, bool with_content) {
  nlohmann::json j = {{"play", t.play},       {"task", t.task},         {"module", t.module},
                      {"summary", t.summary}, {"handler", t.handler},   {"status", to_string(t.status)},
                      {"message", t.message}, {"changes", t.diff.changes}, {"warnings", t.diff.warnings}};
  j["files"] = nlohmann::json::array();
  for (const auto& f : t.diff.files) {
    nlohmann::json fj = {{"path", f.path}, {"exists", f.before.has_value()}};
    if (with_content && !f.binary) {
      fj["before"] = f.before.value_or("");
      fj["after"] = f.after;
    }
    j["files"].push_back(fj);
  }
  return j;
}

}  // namespace

std::string default_playbook_path() {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    candidates.push_back(exe.parent_path() / "playbooks/site.yml");
    candidates.push_back(exe.parent_path().parent_path() / "playbooks/site.yml");
    candidates.push_back(exe.parent_path().parent_path() / "share/registry-setup/playbooks/site.yml");
  }
#ifdef RS_SOURCE_DIR
  candidates.push_back(fs::path(RS_SOURCE_DIR) / "playbooks/site.yml");
#endif
  candidates.push_back("/usr/local/share/registry-setup/playbooks/site.yml");
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return c.string();
  return "playbooks/site.yml";
}

int run_apply(const ApplyOptions& options, Connector& connector, std::ostream& out, std::ostream& err) {
  // Parse once, validate everything, then act.
  Problems problems;
  auto input = load_run_input(options.inventory, options.playbook, options.limit, problems);
  if (!problems.empty()) {
    print_problems("apply", problems, options.json, out, err);
    return kExitUsage;
  }
  auto& plans = input.plans;

  const std::string id = run_id();
  std::mutex print_mutex;
  auto print = [&](const std::string& text) {
    if (options.json) return;
    std::lock_guard lock(print_mutex);
    out << text << std::flush;
  };
  print(std::string(options.check ? "CHECK (nothing will be changed) " : "") + "playbook '" + options.playbook +
        "' on " + std::to_string(plans.size()) + " host(s), " + std::to_string(options.forks) + " at a time\n");

  std::vector<HostReport> reports(plans.size());
  std::atomic<std::size_t> finished{0};
  for_each_host(plans.size(), options.forks, [&](std::size_t i) {
    auto& hp = plans[i];
    const auto& name = hp.host->name;
    print("[" + name + "] connecting (" + (hp.host->connection == Connection::local ? "local" : "ssh " + hp.host->address) + ")\n");
    auto conn = connector.connect(*hp.host);
    HostReport report;
    report.host = name;
    if (!conn) {
      report.unreachable = true;
      report.message = conn.error().message;
      print("unreachable: [" + name + "] => " + report.message + "\n");
    } else {
      HostContext ctx(name, conn->address, *conn->files, *conn->commands, *conn->systemd, id);
      ctx.probe_registry = conn->probe_registry;
      ctx.self_binary = options.self_binary;
      report = run_host(hp, ctx, RunOptions{options.check}, [&](const std::string& host, const TaskReport& t) {
        print(task_line(host, t, options.diff || options.verbosity > 0));
      });
        if (conn->close) conn->close();
      }
      reports[i] = std::move(report);
      print("[" + name + "] done (" + std::to_string(++finished) + "/" + std::to_string(plans.size()) + " hosts)\n");
  });

  int code = kExitOk;
  bool any_failed = false, any_unreachable = false;
  for (const auto& r : reports) {
    any_failed = any_failed || r.failed();
    any_unreachable = any_unreachable || r.unreachable;
  }
  // As Ansible: unreachable (4) wins over failed (2).
  if (any_unreachable) code = kExitUnreachable;
  else if (any_failed) code = kExitHostFailed;

  if (options.json) {
    nlohmann::json j = {{"check", options.check}, {"playbook", options.playbook}, {"inventory", options.inventory},
                        {"exit_code", code}, {"hosts", nlohmann::json::array()}};
    for (const auto& r : reports) {
      nlohmann::json h = {{"host", r.host}, {"unreachable", r.unreachable}, {"message", r.message}};
      h["stats"] = {{"ok", r.count(TaskStatus::ok) + r.count(TaskStatus::changed)},
                    {"changed", r.count(TaskStatus::changed)},
                    {"unreachable", r.unreachable ? 1 : 0},
                    {"failed", r.count(TaskStatus::failed)},
                    {"skipped", r.count(TaskStatus::skipped)}};
      h["tasks"] = nlohmann::json::array();
      for (const auto& t : r.tasks) h["tasks"].push_back(task_json(t, options.diff));
      j["hosts"].push_back(h);
    }
    out << j.dump(2) << "\n";
    return code;
  }
  std::string recap = "\nPLAY RECAP\n";
  for (const auto& r : reports) {
    char line[256];
    std::snprintf(line, sizeof line, "%-24s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d\n",
                  r.host.c_str(), r.count(TaskStatus::ok) + r.count(TaskStatus::changed), r.count(TaskStatus::changed),
                  r.unreachable ? 1 : 0, r.count(TaskStatus::failed), r.count(TaskStatus::skipped));
    recap += line;
  }
  print(recap);
  return code;
}

}  // namespace rs::agent
