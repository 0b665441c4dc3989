// Who is calling and what they may do: the API asks the gate before every endpoint.
// Two modes, as registry:2 has them:
//   Basic:  users of an htpasswd file (auth.htpasswd); the 401 says `Basic realm=..`.
//   Bearer: tokens (auth.token); the 401 says `Bearer realm=..,service=..,scope=..`. With a
//           signing key the registry is its own token server (/auth/token, its users from
//           auth.htpasswd); it then also takes Basic credentials directly (curl -u).
// What a user may do comes from the access rules (access.hpp); without any, every user may
// do everything and anonymous callers nothing (registry:2's htpasswd).
#pragma once

#include "registry/access.hpp"
#include "registry/htpasswd.hpp"
#include "registry/http_types.hpp"
#include "registry/token_auth.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rs::registry {

struct GateOptions {
  HtpasswdChecker* users = nullptr;      // Basic credentials (and the token endpoint's)
  std::string realm;                     // the Basic realm
  std::optional<AccessPolicy> access;    // none: users may do everything
  const TokenAuthority* tokens = nullptr;  // Bearer mode
};

struct Caller {
  std::optional<std::string> user;   // a Basic user, or a token's subject; none: anonymous
  std::optional<TokenClaims> token;  // presented a valid token
};

// What an endpoint needs: to know the caller (the base, /v2/), to list the catalog, or
// `actions` on repository `name`.
struct Need {
  enum class Kind { identity, catalog, repository } kind = Kind::identity;
  std::string name;
  Actions actions = 0;
};

inline constexpr std::string_view kTokenPath = "/auth/token";

class Gate {
 public:
  explicit Gate(GateOptions options);

  // Whether identify() or the token endpoint would run bcrypt (credentials not seen lately).
  bool would_block(const Request& request) const;

  // The caller, or the answer when the credentials are wrong (401) or throttled (429).
  std::variant<Caller, Response> identify(const Request& request) const;

  // None when `caller` may, else the 401 (anonymous, or no token for it) or 403 (DENIED).
  std::optional<Response> authorize(const Caller& caller, const Request& request, const Need& need) const;

  // What `caller` may do to repository `name` (a mount's source; the catalog's filter).
  Actions allowed(const Caller& caller, std::string_view name) const;
  // Whether a mount without ?from= may take a blob from any repository: only when `caller`
  // may pull every repository anyway (a user, and no access rules).
  bool discovers(const Caller& caller) const { return caller.user && !caller.token && !options_.access; }
  // Whether the catalog shows `name` to `caller` (it may pull it).
  bool lists(const Caller& caller, std::string_view name) const;

  // GET /auth/token?service=..&scope=..: whether this registry serves it, and the answer.
  bool serves_tokens(std::string_view target) const;
  Response issue_token(const Request& request) const;

 private:
  Response unauthorized(const Request& request, const Need& need, std::string_view error) const;
  Response throttled(std::chrono::seconds retry_after) const;

  GateOptions options_;
};

}  // namespace rs::registry
