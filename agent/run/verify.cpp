#include "agent/run/verify.hpp"

#include "agent/host/local_files.hpp"
#include "agent/modules/docker_info.hpp"
#include "agent/run/apply.hpp"
#include "agent/run/facts.hpp"
#include "agent/run/registry_vars.hpp"
#include "agent/run/run_input.hpp"
#include "agent/run/runner.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <mutex>

namespace rs::agent {
namespace {

// Exit codes as apply's: 2 here means drift or a failed check.
constexpr int kExitDrift = kExitHostFailed;

CheckRow task_row(const TaskReport& t) {
  CheckRow row;
  row.name = t.handler ? "handler: " + t.task : t.task;
  row.kind = t.handler ? "handler" : "task";
  row.module = t.module;
  row.expected = t.summary;
  row.message = t.message;
  for (const auto& c : t.diff.changes) row.details.push_back(c.text);
  for (const auto& f : t.diff.files)
    row.details.push_back("'" + f.path + "' " + (f.before ? "differs from what apply writes" : "absent"));
  switch (t.status) {
    case TaskStatus::ok: row.status = CheckStatus::ok; row.actual = "as apply leaves it"; break;
    case TaskStatus::changed:
      row.status = CheckStatus::drift;
      row.actual = row.details.front() + (row.details.size() > 1 ? " (+" + std::to_string(row.details.size() - 1) + ")" : "");
      break;
    case TaskStatus::failed: row.status = CheckStatus::failed; row.actual = "check failed"; break;
    case TaskStatus::skipped: row.status = CheckStatus::failed; row.actual = "not checked"; break;
  }
  for (const auto& w : t.diff.warnings) row.details.push_back("warning: " + w);
  return row;
}

CheckRow fact_row(const Fact& fact, HostContext& host) {
  CheckRow row;
  row.name = fact.name;
  row.kind = "fact";
  row.group = fact.task;
  row.expected = fact.expected;
  row.repaired_by = fact.repaired_by;
  auto seen = fact.observe(host);
  if (!seen) {
    row.status = CheckStatus::failed;
    row.actual = "could not look";
    row.message = seen.error().message;
  } else if (seen->matches) {
    row.actual = seen->actual;
  } else {
    row.status = CheckStatus::failed;  // until resolve()
    row.mismatch = true;
    row.actual = seen->actual;
    row.message = seen->message;
  }
  return row;
}

std::string cell(const std::string& s, std::size_t width) {
  if (s.size() <= width) return s + std::string(width - s.size(), ' ');
  return s.substr(0, width - 3) + "...";
}

}  // namespace

const char* to_string(CheckStatus s) {
  switch (s) {
    case CheckStatus::ok: return "ok";
    case CheckStatus::drift: return "drift";
    case CheckStatus::failed: return "failed";
  }
  return "?";
}

int HostVerification::count(CheckStatus s) const {
  return static_cast<int>(std::count_if(rows.begin(), rows.end(), [&](const CheckRow& r) { return r.status == s; }));
}

std::vector<Fact> plan_facts(const HostPlan& plan, const Inventory& inventory, const std::string& address, bool probe) {
  const std::string& me = plan.host->name;
  std::vector<Fact> facts;
  std::vector<std::string> registries;
  for (const auto& play : plan.plays) {
    for (const auto& task : play.tasks) {
      for (auto& f : task.action->facts(FactScope{task.spec->name, me, address})) facts.push_back(std::move(f));
      for (const auto& r : task.action->trusted_registries())
        if (is_registry_address(r) && std::find(registries.begin(), registries.end(), r) == registries.end())
          registries.push_back(r);
    }
  }
  // From this host to every registry its docker trusts: the registry host's service and
  // this host's docker configuration are what apply would repair.
  const ProbeLogin login{plan.host->var_string("registry_login_user"), plan.host->var_string("registry_login_password_file")};
  for (const auto& r : registries) {
    const RegistryEndpoint endpoint = find_registry(inventory, r).value_or(RegistryEndpoint{r, false, false});
    std::vector<Repairer> by = {{me, endpoint.tls ? "docker_registry_ca" : "docker_insecure_registry"}};
    if (endpoint.auth) by.push_back({me, "docker_login"});
    bool own = false;
    for (const auto& h : inventory.hosts())
      if (h.groups.count(kRegistryGroup) && registry_address(h) == r) {
        by.push_back({h.name, "registry_service"});
        own = own || h.name == me;
      }
    // The registry host's own GET /v2/ is already a fact of its registry service.
    std::vector<Repairer> reach_by;
    for (const auto& b : by)
      if (b.module == "registry_service" || b.module == "docker_registry_ca") reach_by.push_back(b);
    if (!own) facts.push_back(registry_reach_fact(endpoint, reach_by));
    // A registry with users takes pushes only from a host that logs in.
    if (probe && (!endpoint.auth || !login.user.empty())) facts.push_back(push_pull_fact(endpoint, me, by, login));
  }
  return facts;
}

HostVerification verify_host(HostPlan& plan, HostContext& host, const std::vector<Fact>& facts) {
  HostVerification v;
  v.host = host.name();
  RunOptions options;
  options.check = true;
  options.keep_going = true;
  auto report = run_host(plan, host, options, nullptr);
  std::vector<CheckRow> observed;
  for (const auto& f : facts) observed.push_back(fact_row(f, host));
  // Each task, then the facts shown under it; handlers; then the facts from this host.
  for (const auto& t : report.tasks) {
    v.rows.push_back(task_row(t));
    if (t.handler) continue;
    for (const auto& r : observed)
      if (r.group == t.task) v.rows.push_back(r);
  }
  for (const auto& r : observed)
    if (r.group.empty()) v.rows.push_back(r);
  return v;
}

void resolve(std::vector<HostVerification>& hosts) {
  auto drifted = [&](const Repairer& by) {
    for (const auto& h : hosts)
      if (h.host == by.host)
        for (const auto& r : h.rows)
          if (r.kind == "task" && r.module == by.module && r.status == CheckStatus::drift) return true;
    return false;
  };
  for (auto& h : hosts)
    for (auto& r : h.rows)
      if (r.mismatch) {
        bool repairable = std::any_of(r.repaired_by.begin(), r.repaired_by.end(), drifted);
        r.status = repairable ? CheckStatus::drift : CheckStatus::failed;
        if (!repairable && !r.repaired_by.empty()) r.message += " (apply would not change this)";
      }
}

int verify_exit_code(const std::vector<HostVerification>& hosts) {
  bool unreachable = false, bad = false;
  for (const auto& h : hosts) {
    unreachable = unreachable || h.unreachable;
    bad = bad || h.count(CheckStatus::drift) > 0 || h.count(CheckStatus::failed) > 0;
  }
  return unreachable ? kExitUnreachable : bad ? kExitDrift : kExitOk;
}

std::string render_table(const std::vector<HostVerification>& hosts, bool verbose) {
  constexpr std::size_t kMaxName = 46, kMaxExpected = 44, kMaxActual = 60;
  std::size_t wn = 5, we = 8;
  for (const auto& h : hosts)
    for (const auto& r : h.rows) {
      wn = std::max(wn, std::min(kMaxName, r.name.size() + (r.kind == "fact" && !r.group.empty() ? 2 : 0)));
      we = std::max(we, std::min(kMaxExpected, r.expected.size()));
    }
  std::string out;
  for (const auto& h : hosts) {
    out += h.host + " (" + h.connection + ")\n";
    if (h.unreachable) {
      out += "  UNREACHABLE: " + h.message + "\n\n";
      continue;
    }
    out += "  " + cell("STATUS", 8) + cell("CHECK", wn) + "  " + cell("EXPECTED", we) + "  ACTUAL\n";
    for (const auto& r : h.rows) {
      std::string name = (r.kind == "fact" && !r.group.empty() ? "  " : "") + r.name;
      std::string actual = verbose || r.actual.size() <= kMaxActual ? r.actual : cell(r.actual, kMaxActual);
      out += "  " + cell(to_string(r.status), 8) + cell(name, wn) + "  " + cell(r.expected, we) + "  " + actual + "\n";
      if (!r.message.empty() && r.status != CheckStatus::ok) out += "            -> " + r.message + "\n";
      if (r.status != CheckStatus::ok || verbose)
        for (const auto& d : r.details) out += "            ~ " + d + "\n";
    }
    out += "\n";
  }
  out += "VERIFY RECAP\n";
  for (const auto& h : hosts) {
    char line[256];
    std::snprintf(line, sizeof line, "%-24s : ok=%-4d drift=%-4d failed=%-4d unreachable=%d\n", h.host.c_str(),
                  h.count(CheckStatus::ok), h.count(CheckStatus::drift), h.count(CheckStatus::failed), h.unreachable ? 1 : 0);
    out += line;
  }
  return out;
}

std::string render_json(const std::vector<HostVerification>& hosts, const VerifyOptions& options, int exit_code) {
  nlohmann::json j = {{"inventory", inventory_json(options)}, {"playbook", options.playbook}, {"probe", options.probe},
                      {"exit_code", exit_code},         {"hosts", nlohmann::json::array()}};
  for (const auto& h : hosts) {
    nlohmann::json hj = {{"host", h.host}, {"connection", h.connection}, {"unreachable", h.unreachable},
                         {"message", h.message}};
    hj["stats"] = {{"ok", h.count(CheckStatus::ok)}, {"drift", h.count(CheckStatus::drift)},
                   {"failed", h.count(CheckStatus::failed)}};
    hj["checks"] = nlohmann::json::array();
    for (const auto& r : h.rows)
      hj["checks"].push_back({{"name", r.name},         {"kind", r.kind},         {"module", r.module},
                              {"group", r.group},       {"status", to_string(r.status)},
                              {"expected", r.expected}, {"actual", r.actual},     {"message", r.message},
                              {"details", r.details}});
    j["hosts"].push_back(hj);
  }
  return j.dump(2) + "\n";
}

int run_verify(const VerifyOptions& options, Connector& connector, std::ostream& out, std::ostream& err) {
  auto input = load_or_report("verify", options, out, err);
  if (!input) return kExitUsage;
  auto& plans = input->plans;
  std::vector<HostVerification> results(plans.size());
  std::mutex log_mutex;
  auto progress = [&](const std::string& text) {
    if (options.verbosity == 0) return;
    std::lock_guard lock(log_mutex);
    err << text << std::flush;
  };
  LocalFiles here("/");
  for_each_host(plans.size(), options.forks, [&](std::size_t i) {
    auto& hp = plans[i];
    const auto& name = hp.host->name;
    const std::string connection = connection_label(*hp.host);
    progress("[" + name + "] connecting (" + connection + ")\n");
    auto conn = connector.connect(*hp.host);
    HostVerification v;
    if (!conn) {
      v.host = name;
      v.unreachable = true;
      v.message = conn.error().message;
    } else {
      // Verify changes nothing: the registry probe is a fact of its own, not part of a check.
      ControlMachine control{&here, options.self_binary, nullptr, 10};
      HostContext ctx(name, conn->address, *conn->files, *conn->commands, *conn->systemd, "verify", control);
      v = verify_host(hp, ctx, plan_facts(hp, *input->inventory, conn->address, options.probe));
      if (conn->close) conn->close();
    }
    v.connection = connection;
    progress("[" + name + "] done\n");
    results[i] = std::move(v);
  });

  resolve(results);
  int code = verify_exit_code(results);
  if (options.json) out << render_json(results, options, code);
  else out << render_table(results, options.verbosity > 0);
  return code;
}

}  // namespace rs::agent
