#include "agent/run/apply_output.hpp"

#include "agent/run/apply.hpp"
#include "agent/run/file_diff.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace rs::agent {
namespace {

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

nlohmann::json task_json(const TaskReport& t, bool with_content) {
  std::vector<std::string> changes;
  for (const auto& c : t.diff.changes) changes.push_back(c.text);
  nlohmann::json j = {{"play", t.play},       {"task", t.task},       {"module", t.module},
                      {"summary", t.summary}, {"handler", t.handler}, {"status", to_string(t.status)},
                      {"message", t.message}, {"changes", changes},   {"warnings", t.diff.warnings}};
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

std::string task_line(const std::string& host, const TaskReport& t, bool show_diff) {
  std::string line = std::string(to_string(t.status)) + ": [" + host + "] " + (t.handler ? "HANDLER " : "") + t.task +
                     " (" + t.module + ": " + t.summary + ")";
  if (!t.message.empty()) line += " => " + t.message;
  line += "\n";
  for (const auto& w : t.diff.warnings) line += "  [WARNING] " + w + "\n";
  if (show_diff && t.status != TaskStatus::ok) {
    for (const auto& c : t.diff.changes) line += "  ~ " + c.text + "\n";
    for (const auto& f : t.diff.files) line += indent(render_file_diff(f), "  ");
  }
  return line;
}

std::string render_recap(const std::vector<HostReport>& reports) {
  std::string recap = "\nPLAY RECAP\n";
  for (const auto& r : reports) {
    char line[256];
    std::snprintf(line, sizeof line, "%-24s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d\n",
                  r.host.c_str(), r.count(TaskStatus::ok) + r.count(TaskStatus::changed), r.count(TaskStatus::changed),
                  r.unreachable ? 1 : 0, r.count(TaskStatus::failed), r.count(TaskStatus::skipped));
    recap += line;
    if (r.untouched) recap.insert(recap.size() - 1, " never touched");
  }
  return recap;
}

std::string render_apply_json(const std::vector<HostReport>& reports, const ApplyOptions& options, int exit_code,
                              const std::string& stopped) {
  nlohmann::json j = {{"check", options.check}, {"playbook", options.playbook}, {"inventory", inventory_json(options)},
                      {"exit_code", exit_code}, {"stopped", stopped.empty() ? nlohmann::json() : nlohmann::json(stopped)},
                      {"hosts", nlohmann::json::array()}};
  for (const auto& r : reports) {
    nlohmann::json h = {
        {"host", r.host}, {"unreachable", r.unreachable}, {"untouched", r.untouched}, {"message", r.message}};
    h["stats"] = {{"ok", r.count(TaskStatus::ok) + r.count(TaskStatus::changed)},
                  {"changed", r.count(TaskStatus::changed)},
                  {"unreachable", r.unreachable ? 1 : 0},
                  {"failed", r.count(TaskStatus::failed)},
                  {"skipped", r.count(TaskStatus::skipped)}};
    h["tasks"] = nlohmann::json::array();
    for (const auto& t : r.tasks) h["tasks"].push_back(task_json(t, options.diff));
    j["hosts"].push_back(h);
  }
  return j.dump(2) + "\n";
}

}  // namespace rs::agent
