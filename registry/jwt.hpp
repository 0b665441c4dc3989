// JSON Web Tokens as the Docker registry token flow uses them: compact JWS, signed with
// ES256/ES384 (ECDSA) or RS256/RS384/RS512 (RSA PKCS#1 v1.5), through OpenSSL. Only the
// signature and its encodings live here; what the claims mean is token_auth's.
#pragma once

#include "core/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

namespace rs::registry {

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

// base64url without padding (RFC 7515's encoding); decoding refuses padding and other
// characters.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

using PublicKey = std::shared_ptr<EVP_PKEY>;

// A private key that signs tokens: EC P-256 (ES256), P-384 (ES384) or RSA >= 2048 (RS256).
class SigningKey {
 public:
  // Reads a PEM private key (any form OpenSSL reads: PKCS#8, SEC1, PKCS#1).
  static Result<SigningKey> load(const std::string& path);
  // A new EC P-256 key.
  static Result<SigningKey> generate();
  // The key as PKCS#8 PEM.
  Result<std::string> pem() const;

  const std::string& algorithm() const { return alg_; }
  // libtrust's key id of the public key (registry:2 matches a token's "kid" by it).
  const std::string& key_id() const { return kid_; }
  PublicKey public_key() const { return key_; }

  // "header.payload.signature" for JSON `header_fields` (without alg/kid: added) and
  // `payload`.
  Result<std::string> sign(const std::string& header_fields, const std::string& payload) const;

 private:
  static Result<SigningKey> from(PublicKey key);
  PublicKey key_;
  std::string alg_, kid_;
};

// libtrust's key id: the SHA-256 of the DER SubjectPublicKeyInfo, its first 240 bits in
// base32, in twelve groups of four joined by ':'.
std::string libtrust_key_id(EVP_PKEY* key);

// A compact JWS split and decoded; nothing verified yet.
struct Jws {
  std::string header;   // JSON
  std::string payload;  // JSON
  std::string signing_input;  // "header.payload" as sent
  std::string signature;      // raw (for ECDSA: r || s)
};
Result<Jws> split_jws(std::string_view token);

// Whether `signature` over `input` verifies with `key` for `alg` (ES256, ES384, RS256,
// RS384, RS512; the key's type must fit the algorithm).
bool verify_signature(std::string_view alg, EVP_PKEY* key, std::string_view input, std::string_view signature);

// Certificates of a PEM bundle (registry:2's auth.token.rootcertbundle), at most 1 MiB.
struct CertificateBundle {
  std::vector<std::shared_ptr<X509>> certificates;
};
Result<CertificateBundle> load_certificate_bundle(const std::string& path);

// The leaf public key of an x5c chain (base64 DER certificates, leaf first) when the chain
// leads to a certificate of `roots`; an error otherwise.
Result<PublicKey> verify_x5c(const std::vector<std::string>& chain, const CertificateBundle& roots);

}  // namespace rs::registry
