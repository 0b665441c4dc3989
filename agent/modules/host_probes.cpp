#include "agent/modules/host_probes.hpp"

#include "agent/host/http_probe.hpp"

namespace rs::agent {

using namespace std::chrono_literals;

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

Result<CommandResult> run_tool(HostContext& host, const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                               const std::string& input) {
  auto r = host.commands().run(argv, input, timeout);
  if ((!r && r.error().code == Errc::not_found) || (r && r->exit_code == 127))
    return make_error(Errc::not_found, "'" + argv.front() + "' is not installed on '" + host.name() + "'");
  if (!r) return r.error();
  return r;
}

Result<Observation> get_v2_from(HostContext& host, const std::string& registry, const std::string& ca_path) {
  const std::string url = (ca_path.empty() ? "http://" : "https://") + registry + "/v2/";
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-D", "-"};
  if (!ca_path.empty()) argv.insert(argv.end(), {"--cacert", ca_path});
  argv.push_back(url);
  auto r = run_tool(host, argv, 20s);
  if (!r) return r.error();
  if (r->exit_code != 0) return Observation{false, "no answer", "GET " + url + ": " + last_line(r->err)};
  auto judged = check_v2_head(r->out, "GET " + url);
  if (!judged) return Observation{false, last_line(r->out.substr(0, r->out.find('\n'))), judged.error().message};
  return Observation{true, *judged + ", Docker-Distribution-API-Version", ""};
}

Result<std::string> control_file(const ControlMachine& control, const std::string& path, const std::string& what) {
  if (!control.files) return make_error(Errc::internal, "no control machine files");
  auto text = control.files->read(path);
  if (!text) return text.error().with_context(what);
  if (!*text) return make_error(Errc::not_found, what + " '" + path + "' does not exist on the control machine");
  return **text;
}

Result<std::string> control_secret(const ControlMachine& control, const std::string& path, const std::string& what) {
  auto text = control_file(control, path, what);
  if (!text) return text.error();
  std::string secret = text->substr(0, text->find_first_of("\r\n"));
  if (secret.empty()) return make_error(Errc::invalid_argument, what + " '" + path + "' is empty");
  return secret;
}

}  // namespace rs::agent
