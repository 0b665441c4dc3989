#include "agent/modules/docker_login_module.hpp"

#include "agent/modules/host_probes.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace rs::agent {

using Json = nlohmann::ordered_json;

std::string docker_auth_value(const std::string& user, const std::string& password) {
  const std::string plain = user + ":" + password;
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string DockerLoginAction::summary() const {
  if (config_.user.empty() || config_.registries.empty()) return "no registry_login";
  return config_.user + " on " + join_list(config_.registries) + " in " + config_.config;
}

Result<Diff> DockerLoginAction::check(HostContext& host) {
  Diff diff;
  const auto& c = config_;
  if (c.user.empty() || c.registries.empty()) return diff;
  auto password = control_secret(host.control(), c.password_file, "registry_login_password_file");
  if (!password) return password.error();
  auto text = host.files().read(c.config);
  if (!text) return text.error();
  Json json = Json::object();
  if (*text && (*text)->find_first_not_of(" \t\r\n") != std::string::npos) {
    try {
      json = Json::parse(**text);
    } catch (const Json::exception& e) {
      return make_error(Errc::invalid_argument, "'" + c.config + "' is not valid JSON: " + e.what());
    }
    if (!json.is_object()) return make_error(Errc::invalid_argument, "'" + c.config + "' is not a JSON object");
  }
  if (json.contains("auths") && !json["auths"].is_object())
    return make_error(Errc::invalid_argument, "'" + c.config + "': auths is not an object");
  Json merged = json;
  const std::string auth = docker_auth_value(c.user, *password);
  for (const auto& r : c.registries) {
    Json& entry = merged["auths"][r];
    if (!entry.is_object()) entry = Json::object();
    entry["auth"] = auth;
  }
  if (merged != json)
    diff.files.push_back(FileChange{c.config, *text ? std::optional<std::string>("") : std::nullopt, merged.dump(1, '\t') + "\n",
                                    /*binary=*/true});
  return diff;
}

Result<void> DockerLoginAction::apply(HostContext& host, const Diff& diff) {
  for (const auto& f : diff.files)
    if (auto r = host.write_file(f.path, f.after, 0600); !r) return r.error();
  return ok();
}

std::unique_ptr<Action> make_docker_login_action(Params& params) {
  DockerLoginConfig c;
  c.registries = params.strings("registries", false);
  c.user = params.string("user", std::string());
  c.password_file = params.string("password_file", std::string());
  c.config = params.string("config", c.config);
  params.finish();
  if (!c.user.empty() && c.password_file.empty()) params.problem("password_file", "required with user");
  if (c.user.find(':') != std::string::npos) params.problem("user", "'" + c.user + "' holds ':'");
  if (c.config.empty() || c.config[0] != '/') params.problem("config", "must be an absolute path");
  if (!params.ok()) return nullptr;
  return std::make_unique<DockerLoginAction>(std::move(c));
}

}  // namespace rs::agent
