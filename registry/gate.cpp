#include "registry/gate.hpp"

#include "registry/api.hpp"
#include "registry/names.hpp"
#include "registry/router.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace rs::registry {
namespace {

constexpr std::size_t kMaxScopes = 32;
constexpr std::string_view kDenied = "requested access to the resource is denied";

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

// The token of "Authorization: Bearer TOKEN", or none for another scheme.
std::optional<std::string_view> bearer_token(std::string_view header) {
  if (!starts_with_nocase(header, "bearer ")) return std::nullopt;
  header.remove_prefix(7);
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  return header;
}

// A value inside a quoted challenge parameter: a quote or backslash would end it early.
std::string quotable(std::string_view value) {
  std::string out;
  for (char c : value) out += c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ? '_' : c;
  return out;
}

// The Host a client used, if it is a plain host[:port] (it names the token realm it is sent).
std::string safe_host(std::string_view host) {
  if (host.empty() || host.size() > 261) return "localhost";
  for (char c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
      return "localhost";
  return std::string(host);
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// The decoded values of `key` in a query string ("a=1&b=2&a=3").
std::vector<std::string> query_values(std::string_view query, std::string_view key) {
  std::vector<std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    std::string k, v;
    if (percent_decode(pair.substr(0, eq), k) && k == key &&
        percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), v))
      out.push_back(std::move(v));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

Gate::Gate(GateOptions options) : options_(std::move(options)) {}

bool Gate::would_block(const Request& req) const {
  if (!options_.users || !req.has_header("Authorization")) return false;
  auto credentials = parse_basic_authorization(req.header("Authorization"));
  return credentials && options_.users->would_block(*credentials);
}

Response Gate::throttled(std::chrono::seconds retry_after) const {
  Response r = error_response(429, "TOOMANYREQUESTS", "too many failed logins from this address; retry later");
  r.set("Retry-After", std::to_string(std::max<long long>(1, retry_after.count())));
  return r;
}

Response Gate::unauthorized(const Request& req, const Need& need, std::string_view error) const {
  Response r = error_response(401, "UNAUTHORIZED", "authentication required");
  if (!options_.tokens) {
    r.set("WWW-Authenticate", "Basic realm=\"" + quotable(options_.realm) + "\"");
    return r;
  }
  const auto& token = options_.tokens->options();
  const std::string realm = !token.realm.empty() ? token.realm
                                                 : std::string(req.tls ? "https://" : "http://") +
                                                       safe_host(req.header("Host")) + std::string(kTokenPath);
  std::string challenge = "Bearer realm=\"" + quotable(realm) + "\",service=\"" + quotable(token.service) + "\"";
  if (need.kind == Need::Kind::catalog) challenge += ",scope=\"registry:catalog:*\"";
  if (need.kind == Need::Kind::repository) {
    // A push also reads (which blobs are there): registry:2's clients ask for both.
    const Actions ask = need.actions | ((need.actions & kPush) ? kPull : 0);
    challenge += ",scope=\"" + quotable(scope_text({"repository", need.name, ask})) + "\"";
  }
  if (!error.empty()) challenge += std::string(",error=\"") + (error == "insufficient_scope" ? "insufficient_scope" : "invalid_token") + "\"";
  r.set("WWW-Authenticate", challenge);
  return r;
}

std::variant<Caller, Response> Gate::identify(const Request& req) const {
  if (!req.has_header("Authorization")) return Caller{};
  const std::string_view header = req.header("Authorization");
  if (auto token = bearer_token(header)) {
    if (!options_.tokens) return unauthorized(req, {}, "");
    auto claims = options_.tokens->verify(*token);
    if (!claims) {
      Response r = unauthorized(req, {}, "invalid_token");
      r.body = error_response(401, "UNAUTHORIZED", claims.error().message).body;
      return r;
    }
    Caller c;
    if (!claims->subject.empty()) c.user = claims->subject;
    c.token = std::move(*claims);
    return c;
  }
  // Basic: an external issuer's registry has no users of its own.
  if (!options_.users) return unauthorized(req, {}, "");
  auto credentials = parse_basic_authorization(header);
  if (!credentials) return unauthorized(req, {}, "");
  // Runs bcrypt on a cache miss: the server sent such a request to a worker (would_block).
  const auto outcome = options_.users->check(*credentials, req.remote);
  if (outcome.verdict == HtpasswdChecker::Verdict::allowed) return Caller{credentials->user, std::nullopt};
  if (outcome.verdict == HtpasswdChecker::Verdict::throttled) return throttled(outcome.retry_after);
  return unauthorized(req, {}, "");
}

Actions Gate::allowed(const Caller& caller, std::string_view name) const {
  if (caller.token) return caller.token->granted("repository", name);
  if (caller.user) return options_.access ? options_.access->granted(caller.user, name) : kAllActions;
  // Anonymous callers without a token: as the rules say, unless an external issuer decides.
  const bool own_rules = !options_.tokens || options_.tokens->issues();
  return options_.access && own_rules ? options_.access->granted(std::nullopt, name) : Actions{0};
}

bool Gate::lists(const Caller& caller, std::string_view name) const {
  if (caller.token) {
    if (!caller.token->own) return true;  // the issuer granted the catalog: all of it
    if (!options_.access) return caller.user.has_value();
    return options_.access->granted(caller.user, name) & kPull;
  }
  return allowed(caller, name) & kPull;
}

std::optional<Response> Gate::authorize(const Caller& caller, const Request& req, const Need& need) const {
  const bool known = caller.user || caller.token;
  switch (need.kind) {
    case Need::Kind::identity:
      if (known) return std::nullopt;
      return unauthorized(req, need, "");
    case Need::Kind::catalog: {
      if (caller.token && !caller.token->own && !caller.token->granted("registry", "catalog"))
        return unauthorized(req, need, "insufficient_scope");
      if (known) return std::nullopt;
      const bool anonymous_listing = options_.access && options_.access->grants_anonymous() &&
                                     (!options_.tokens || options_.tokens->issues());
      if (anonymous_listing) return std::nullopt;
      return unauthorized(req, need, "");
    }
    case Need::Kind::repository: {
      if ((allowed(caller, need.name) & need.actions) == need.actions) return std::nullopt;
      if (!caller.user) return unauthorized(req, need, caller.token ? "insufficient_scope" : "");
      if (caller.token) {
        // A token that lacks the scope: a client fetches another for it (containerd does, on
        // insufficient_scope), unless this server knows the rules would refuse it anyway.
        const bool knows_rules = caller.token->own;
        const Actions could = !knows_rules          ? kAllActions
                              : options_.access ? options_.access->granted(caller.user, need.name)
                                                : kAllActions;
        if ((could & need.actions) == need.actions) return unauthorized(req, need, "insufficient_scope");
      }
      Response r = error_response(403, "DENIED", kDenied);
      return r;
    }
  }
  return unauthorized(req, need, "");
}

bool Gate::serves_tokens(std::string_view target) const {
  if (!options_.tokens || !options_.tokens->issues()) return false;
  if (target.substr(0, kTokenPath.size()) != kTokenPath) return false;
  return target.size() == kTokenPath.size() || target[kTokenPath.size()] == '?';
}

Response Gate::issue_token(const Request& req) const {
  if (req.method != "GET") {
    Response r = error_response(405, "UNSUPPORTED", "the token endpoint takes GET (OAuth2 POST is not served)");
    r.set("Allow", "GET");
    return r;
  }
  const auto& token_options = options_.tokens->options();
  const auto q = req.target.find('?');
  const std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(req.target).substr(q + 1);
  for (const auto& service : query_values(query, "service"))
    if (service != token_options.service)
      return error_response(400, "UNSUPPORTED", "this token server serves '" + token_options.service + "', not '" +
                                                    service.substr(0, 256) + "'");
  // Who asks: a Basic login, or nobody (anonymous access).
  Caller caller;
  if (req.has_header("Authorization")) {
    auto credentials = options_.users ? parse_basic_authorization(req.header("Authorization")) : std::nullopt;
    Response refused = error_response(401, "UNAUTHORIZED", "authentication required");
    refused.set("WWW-Authenticate", "Basic realm=\"" + quotable(options_.realm) + "\"");
    if (!credentials) return refused;
    const auto outcome = options_.users->check(*credentials, req.remote);
    if (outcome.verdict == HtpasswdChecker::Verdict::throttled) return throttled(outcome.retry_after);
    if (outcome.verdict != HtpasswdChecker::Verdict::allowed) return refused;
    caller.user = credentials->user;
  }
  std::vector<Grant> grants;
  auto scopes = query_values(query, "scope");
  if (scopes.size() > kMaxScopes) return error_response(400, "UNSUPPORTED", "more than 32 scopes in one request");
  for (const auto& text : scopes) {
    // docker sends several scopes space-separated in one parameter too.
    std::string_view rest = text;
    while (!rest.empty()) {
      const auto space = rest.find(' ');
      auto scope = parse_scope(rest.substr(0, space));
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (!scope || grants.size() >= kMaxScopes) continue;
      if (scope->type == "repository" && valid_repository_name(scope->name)) {
        scope->actions &= allowed(caller, scope->name);
      } else if (scope->type == "registry" && scope->name == "catalog") {
        const bool may = caller.user || (options_.access && options_.access->grants_anonymous());
        scope->actions = may ? kAllActions : 0;
      } else {
        scope->actions = 0;
      }
      if (scope->actions) grants.push_back(std::move(*scope));
    }
  }
  auto jwt = options_.tokens->issue(caller.user.value_or(""), grants);
  if (!jwt) return error_response(500, "UNKNOWN", jwt.error().message);
  nlohmann::json body = {{"token", *jwt},
                         {"access_token", *jwt},
                         {"expires_in", token_options.expiration.count()},
                         {"issued_at", rfc3339(options_.tokens->now())}};
  Response r;
  r.set("Content-Type", "application/json");
  r.set("Cache-Control", "no-store");
  r.body = body.dump();
  return r;
}

}  // namespace rs::registry
