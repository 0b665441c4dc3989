#include "core/digest.hpp"

// SHA256_Init and friends are deprecated in OpenSSL 3 but kept; see Hasher::Impl.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <variant>

namespace rs {

Result<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return make_error(Errc::invalid_argument, "digest has no algorithm");
  auto algorithm = text.substr(0, colon);
  auto hex = text.substr(colon + 1);
  Digest d;
  std::size_t want = 0;
  if (algorithm == "sha256") {
    d.algorithm = DigestAlgorithm::sha256;
    want = 64;
  } else if (algorithm == "sha512") {
    d.algorithm = DigestAlgorithm::sha512;
    want = 128;
  } else {
    // The spec's grammar for algorithm components: [a-z0-9]+ joined by [+._-].
    for (char c : algorithm)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' ||
            c == '_' || c == '-'))
        return make_error(Errc::invalid_argument, "digest algorithm is malformed");
    return make_error(Errc::unsupported, "digest algorithm is not supported");
  }
  if (hex.size() != want)
    return make_error(Errc::invalid_argument,
                      std::string(algorithm) + " digest must have " + std::to_string(want) +
                          " hex characters");
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return make_error(Errc::invalid_argument, "digest must be lowercase hex");
  d.hex = std::string(hex);
  return d;
}

// The low-level SHA functions: the same assembly (SHA-NI where the CPU has it) as EVP,
// without OpenSSL 3's provider machinery, which touches ~2 MiB of the library at first use.
struct Hasher::Impl {
  std::variant<SHA256_CTX, SHA512_CTX> ctx;
};

Hasher::Hasher(DigestAlgorithm algorithm) : impl_(std::make_unique<Impl>()), algorithm_(algorithm) {
  if (algorithm == DigestAlgorithm::sha256)
    SHA256_Init(&impl_->ctx.emplace<SHA256_CTX>());
  else
    SHA512_Init(&impl_->ctx.emplace<SHA512_CTX>());
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) {
  if (size == 0) return;
  if (auto* c = std::get_if<SHA256_CTX>(&impl_->ctx))
    SHA256_Update(c, data, size);
  else
    SHA512_Update(&std::get<SHA512_CTX>(impl_->ctx), data, size);
}

Digest Hasher::digest() const {
  unsigned char out[SHA512_DIGEST_LENGTH];
  unsigned len;
  if (auto* c = std::get_if<SHA256_CTX>(&impl_->ctx)) {
    SHA256_CTX copy = *c;
    SHA256_Final(out, &copy);
    len = SHA256_DIGEST_LENGTH;
  } else {
    SHA512_CTX copy = std::get<SHA512_CTX>(impl_->ctx);
    SHA512_Final(out, &copy);
    len = SHA512_DIGEST_LENGTH;
  }
  static const char* kHex = "0123456789abcdef";
  Digest d{algorithm_, {}};
  d.hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    d.hex.push_back(kHex[out[i] >> 4]);
    d.hex.push_back(kHex[out[i] & 15]);
  }
  return d;
}

Digest digest_of(std::string_view data, DigestAlgorithm algorithm) {
  Hasher h(algorithm);
  h.update(data);
  return h.digest();
}

}  // namespace rs
