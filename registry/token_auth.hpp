// The Docker registry token flow (distribution's token spec): the registry answers 401 with
// `Bearer realm=..,service=..,scope=..`, the client fetches a JWT for that scope from the
// realm, and the registry trusts the token's signature and claims alone. This is both sides:
// tokens issued here (the registry as its own token server, auth.token.signingkey) and
// tokens of an external issuer (registry:2's auth.token: issuer, service, rootcertbundle).
#pragma once

#include "core/result.hpp"
#include "registry/access.hpp"
#include "registry/jwt.hpp"

#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rs::registry {

// The config's auth.token.
struct TokenOptions {
  std::string realm;           // the token server's URL; empty (own server): this server's /auth/token
  std::string service;         // the audience tokens must name
  std::string issuer;          // the issuer tokens must name (and own tokens carry)
  std::string rootcertbundle;  // certificates whose keys may sign tokens (external issuer)
  std::string signingkey;      // be the token server: this key signs (created when missing)
  std::chrono::seconds expiration{300};  // own tokens' lifetime
};

// One entry of a token's "access" claim: `actions` on a repository (type "repository"), or
// the catalog (type "registry", name "catalog").
struct Grant {
  std::string type;
  std::string name;
  Actions actions = 0;
  bool operator==(const Grant&) const = default;
};

// A scope as a client asks for it: "repository:NAME:pull,push"; "registry:catalog:*".
// None when malformed (unknown actions are dropped, as registry:2 does).
std::optional<Grant> parse_scope(std::string_view scope);
std::string scope_text(const Grant& grant);

struct TokenClaims {
  std::string subject;  // the user; empty: anonymous
  std::vector<Grant> access;
  std::chrono::system_clock::time_point expires;
  bool own = false;  // signed by this server's key

  Actions granted(std::string_view type, std::string_view name) const;
};

// The claims of a token's payload (its signature checked before): issuer and audience as
// `options` says, exp (and nbf) around `now` within `leeway`, the access entries (at most
// 256; unknown actions dropped). An error says what is wrong.
Result<TokenClaims> read_claims(const std::string& payload, const TokenOptions& options,
                                std::chrono::system_clock::time_point now, std::chrono::seconds leeway);

struct TokenAuthorityOptions {
  std::size_t cache_entries = 4096;  // verified tokens remembered until they expire
  std::chrono::seconds leeway{60};   // clock skew allowed on exp and nbf
  std::function<std::chrono::system_clock::time_point()> now;  // tests; default system_clock
};

class TokenAuthority {
 public:
  // Reads the bundle and the signing key (`create_key`: a missing key file is made, 0600).
  static Result<std::unique_ptr<TokenAuthority>> create(const TokenOptions& options, bool create_key,
                                                        TokenAuthorityOptions tuning = {});

  const TokenOptions& options() const { return options_; }
  bool issues() const { return key_.has_value(); }

  // A token for `subject` carrying exactly `access` (own server only).
  Result<std::string> issue(const std::string& subject, const std::vector<Grant>& access) const;

  // The claims of a token whose signature, issuer, audience and times are right; an error
  // saying what is wrong otherwise. Thread-safe; a token verified once is then a lookup.
  Result<TokenClaims> verify(std::string_view token) const;

  std::chrono::system_clock::time_point now() const;

 private:
  TokenAuthority() = default;
  Result<TokenClaims> verify_uncached(std::string_view token) const;

  TokenOptions options_;
  TokenAuthorityOptions tuning_;
  std::optional<SigningKey> key_;
  CertificateBundle bundle_;
  std::vector<std::pair<std::string, PublicKey>> trusted_;  // libtrust key id -> key

  struct Cached {
    TokenClaims claims;
    std::list<std::string>::iterator order;
  };
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, Cached> cache_;  // SHA-256 of the token -> claims
  mutable std::list<std::string> cache_order_;             // oldest first
};

}  // namespace rs::registry
