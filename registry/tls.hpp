// The server's TLS settings (registry:2's http.tls) as OpenSSL contexts: one is built when
// serve starts, and reload() (SIGHUP) builds another from the files; a new connection takes
// the context current when it arrives, one in flight keeps the one it started with.
// Boost-free and OpenSSL-free header: OpenSSL stays in tls.cpp and server.cpp.
#pragma once

#include "core/result.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace rs::registry {

enum class TlsVersion { tls12, tls13 };

struct TlsOptions {
  std::string certificate;              // PEM: the server's certificate, then its chain
  std::string key;                      // PEM: its private key, unencrypted
  std::vector<std::string> client_cas;  // PEM CA files: when given, a client must present a
                                        // certificate one of them signed (mutual TLS)
  TlsVersion minimum = TlsVersion::tls12;
};

// Each certificate, key or CA file at most this large (a bundle of ~300 certificates).
inline constexpr std::size_t kMaxTlsFileBytes = 1024 * 1024;

class TlsContexts {
 public:
  // Reads the files and builds the first context. An error names the file and the cause
  // (no certificate in it, a key that does not match, an encrypted key, ...).
  static Result<std::unique_ptr<TlsContexts>> load(TlsOptions options);
  ~TlsContexts();

  // The context a new connection uses (an SSL_CTX, kept alive by every SSL made from it).
  // Thread-safe.
  std::shared_ptr<ssl_ctx_st> current() const;
  // Reads the files again; if they make a valid context, new connections use it from now on
  // and the answer is what describe() says of it; otherwise the old one stays and the error
  // says why. Thread-safe.
  Result<std::string> reload();
  // The certificate served: "subject 'CN=registry', serial 1A2B, valid until Jan  1 00:00:00
  // 2027 GMT" and whether mutual TLS is on.
  std::string describe() const;
  // A certificate that is expired or not valid yet: a sentence saying which (else empty).
  // Served anyway, as registry:2 does, but serve warns.
  std::string validity_problem() const;
  const TlsOptions& options() const { return options_; }

 private:
  struct Built;
  explicit TlsContexts(TlsOptions options);

  TlsOptions options_;
  mutable std::mutex mutex_;
  std::shared_ptr<ssl_ctx_st> current_;  // under mutex_
  std::string description_;              // under mutex_
  std::string validity_problem_;         // under mutex_
};

}  // namespace rs::registry
