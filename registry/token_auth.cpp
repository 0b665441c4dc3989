#include "registry/token_auth.hpp"

#include "core/atomic_file.hpp"
#include "core/random.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

namespace rs::registry {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxGrants = 256;
constexpr std::size_t kMaxJsonDepth = 16;
constexpr double kLatestTime = 4e9;  // seconds since the epoch: 2096

// A claim set or header parsed without exceptions, nesting bounded (nlohmann's parser
// recurses per level).
std::optional<Json> parse_json(const std::string& text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth) {
      --depth;
    }
  }
  if (deepest > kMaxJsonDepth) return std::nullopt;
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::string sha256_key(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), md, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), size);
}

Actions actions_of(const Json& list) {
  Actions out = 0;
  if (!list.is_array()) return 0;
  for (const auto& a : list)
    if (a.is_string())
      if (auto bit = parse_action(a.get_ref<const std::string&>())) out |= *bit;
  return out;
}

Result<void> ensure_key_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0) return ok();
  if (errno != ENOENT) return errno_error("signing key '" + path + "'", errno);
  auto key = SigningKey::generate();
  if (!key) return key.error();
  auto pem = key->pem();
  if (!pem) return pem.error();
  return write_file_atomic(path, *pem, 0600);
}

}  // namespace

std::optional<Grant> parse_scope(std::string_view scope) {
  const auto first = scope.find(':'), last = scope.rfind(':');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  Grant g{std::string(scope.substr(0, first)), std::string(scope.substr(first + 1, last - first - 1)), 0};
  if (g.type.empty() || g.name.empty()) return std::nullopt;
  std::string_view actions = scope.substr(last + 1);
  while (!actions.empty()) {
    const auto comma = actions.find(',');
    if (auto bit = parse_action(actions.substr(0, comma))) g.actions |= *bit;
    if (comma == std::string_view::npos) break;
    actions.remove_prefix(comma + 1);
  }
  return g;
}

std::string scope_text(const Grant& grant) {
  return grant.type + ":" + grant.name + ":" +
         (grant.type == "registry" && grant.actions == kAllActions ? "*" : actions_text(grant.actions));
}

Actions TokenClaims::granted(std::string_view type, std::string_view name) const {
  Actions out = 0;
  for (const auto& g : access)
    if (g.type == type && g.name == name) out |= g.actions;
  return out;
}

Result<std::unique_ptr<TokenAuthority>> TokenAuthority::create(const TokenOptions& options, bool create_key,
                                                               TokenAuthorityOptions tuning) {
  std::unique_ptr<TokenAuthority> a(new TokenAuthority());
  a->options_ = options;
  a->tuning_ = std::move(tuning);
  if (!options.signingkey.empty()) {
    if (create_key)
      if (auto r = ensure_key_file(options.signingkey); !r) return r.error();
    auto key = SigningKey::load(options.signingkey);
    if (!key) return key.error();
    a->trusted_.emplace_back(key->key_id(), key->public_key());
    a->key_ = std::move(*key);
  }
  if (!options.rootcertbundle.empty()) {
    auto bundle = load_certificate_bundle(options.rootcertbundle);
    if (!bundle) return bundle.error();
    for (const auto& cert : bundle->certificates) {
      EVP_PKEY* key = X509_get_pubkey(cert.get());
      if (!key) continue;
      PublicKey owned(key, EVP_PKEY_free);
      a->trusted_.emplace_back(libtrust_key_id(key), owned);
    }
    a->bundle_ = std::move(*bundle);
  }
  return a;
}

std::chrono::system_clock::time_point TokenAuthority::now() const {
  return tuning_.now ? tuning_.now() : std::chrono::system_clock::now();
}

Result<std::string> TokenAuthority::issue(const std::string& subject, const std::vector<Grant>& access) const {
  if (!key_) return make_error(Errc::internal, "this registry issues no tokens (no auth.token.signingkey)");
  const auto issued = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
  Json grants = Json::array();
  for (const auto& g : access) {
    Json actions = Json::array();
    if (g.type == "registry" && g.actions == kAllActions) actions.push_back("*");
    else
      for (auto [bit, word] : {std::pair{kPull, "pull"}, std::pair{kPush, "push"}, std::pair{kDelete, "delete"}})
        if (g.actions & bit) actions.push_back(word);
    grants.push_back({{"type", g.type}, {"name", g.name}, {"actions", std::move(actions)}});
  }
  Json claims = {{"iss", options_.issuer},
                 {"sub", subject},
                 {"aud", options_.service},
                 {"exp", issued + options_.expiration.count()},
                 {"nbf", issued - 1},
                 {"iat", issued},
                 {"jti", random_hex(16)},
                 {"access", std::move(grants)}};
  return key_->sign("\"typ\":\"JWT\"", claims.dump());
}

Result<TokenClaims> TokenAuthority::verify(std::string_view token) const {
  if (token.size() > kMaxTokenBytes) return make_error(Errc::invalid_argument, "malformed token: too long");
  const std::string key = sha256_key(token);
  const auto t = now();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (t < it->second.claims.expires + tuning_.leeway) return it->second.claims;
      cache_order_.erase(it->second.order);
      cache_.erase(it);
      return make_error(Errc::invalid_argument, "the token has expired");
    }
  }
  auto claims = verify_uncached(token);
  if (!claims) return claims;
  std::lock_guard lock(mu_);
  if (cache_.count(key)) return claims;
  while (cache_.size() >= tuning_.cache_entries && !cache_order_.empty()) {
    cache_.erase(cache_order_.front());
    cache_order_.pop_front();
  }
  if (tuning_.cache_entries == 0) return claims;
  cache_order_.push_back(key);
  cache_.emplace(key, Cached{*claims, std::prev(cache_order_.end())});
  return claims;
}

Result<TokenClaims> TokenAuthority::verify_uncached(std::string_view token) const {
  auto bad = [](const std::string& why) { return make_error(Errc::invalid_argument, why); };
  auto jws = split_jws(token);
  if (!jws) return jws.error();
  auto header = parse_json(jws->header);
  if (!header) return bad("malformed token: the header is not a JSON object");
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) return bad("malformed token: no alg");
  const std::string algorithm = alg->get<std::string>();
  // The key: a certificate chain to one of the root certificates, or a known key id.
  PublicKey key;
  bool own = false;
  if (auto x5c = header->find("x5c"); x5c != header->end()) {
    if (!x5c->is_array() || bundle_.certificates.empty()) return bad("the token's x5c chain is not trusted");
    std::vector<std::string> chain;
    for (const auto& c : *x5c) {
      if (!c.is_string()) return bad("malformed token: x5c");
      chain.push_back(c.get<std::string>());
    }
    auto leaf = verify_x5c(chain, bundle_);
    if (!leaf) return leaf.error();
    key = *leaf;
  } else if (auto kid = header->find("kid"); kid != header->end() && kid->is_string()) {
    for (const auto& [id, k] : trusted_)
      if (id == kid->get_ref<const std::string&>()) {
        key = k;
        own = key_ && k == key_->public_key();
      }
    if (!key) return bad("the token's signing key is not trusted");
  } else {
    return bad("the token names no key (kid or x5c)");
  }
  if (!verify_signature(algorithm, key.get(), jws->signing_input, jws->signature))
    return bad("the token's signature does not verify");

  auto claims = read_claims(jws->payload, options_, now(), tuning_.leeway);
  if (claims) claims->own = own;
  return claims;
}

Result<TokenClaims> read_claims(const std::string& payload, const TokenOptions& options,
                                std::chrono::system_clock::time_point t, std::chrono::seconds leeway) {
  auto bad = [](const std::string& why) { return make_error(Errc::invalid_argument, why); };
  auto claims = parse_json(payload);
  if (!claims) return bad("malformed token: the claims are not a JSON object");
  const Json& c = *claims;
  auto str = [&](const char* name) -> std::string {
    auto it = c.find(name);
    return it != c.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str("iss") != options.issuer) return bad("the token's issuer is not '" + options.issuer + "'");
  bool audience = false;
  if (auto aud = c.find("aud"); aud != c.end()) {
    if (aud->is_string()) audience = aud->get_ref<const std::string&>() == options.service;
    else if (aud->is_array())
      for (const auto& a : *aud) audience = audience || (a.is_string() && a.get_ref<const std::string&>() == options.service);
  }
  if (!audience) return bad("the token is not for service '" + options.service + "'");
  const auto seconds = [&](const char* name) -> std::optional<long long> {
    auto it = c.find(name);
    if (it == c.end() || !it->is_number()) return std::nullopt;
    const double v = it->get<double>();
    if (v != v) return std::nullopt;  // NaN
    // Times past 2096 mean "never" and stay there: the clock's nanoseconds end in 2262.
    return static_cast<long long>(std::clamp(v, 0.0, kLatestTime));
  };
  const auto exp = seconds("exp");
  if (!exp) return bad("malformed token: no exp");
  TokenClaims out;
  out.expires = std::chrono::system_clock::time_point(std::chrono::seconds(*exp));
  if (out.expires + leeway <= t) return bad("the token has expired");
  if (auto nbf = seconds("nbf"); nbf && std::chrono::system_clock::time_point(std::chrono::seconds(*nbf)) > t + leeway)
    return bad("the token is not valid yet");
  out.subject = str("sub");
  if (auto access = c.find("access"); access != c.end() && access->is_array()) {
    if (access->size() > kMaxGrants) return bad("malformed token: more than 256 access entries");
    for (const auto& a : *access) {
      if (!a.is_object()) continue;
      Grant g;
      if (auto it = a.find("type"); it != a.end() && it->is_string()) g.type = it->get<std::string>();
      if (auto it = a.find("name"); it != a.end() && it->is_string()) g.name = it->get<std::string>();
      if (auto it = a.find("actions"); it != a.end()) g.actions = actions_of(*it);
      if (!g.type.empty() && g.actions) out.access.push_back(std::move(g));
    }
  }
  return out;
}

}  // namespace rs::registry