#include "core/digest.hpp"

#include <openssl/evp.h>

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

struct Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(DigestAlgorithm algorithm) : impl_(std::make_unique<Impl>()), algorithm_(algorithm) {
  impl_->ctx = EVP_MD_CTX_new();
  const EVP_MD* md = algorithm == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
  [[maybe_unused]] int rc = EVP_DigestInit_ex(impl_->ctx, md, nullptr);
  assert(impl_->ctx && rc == 1);
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, std::size_t size) {
  if (size) EVP_DigestUpdate(impl_->ctx, data, size);
}

Digest Hasher::digest() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_MD_CTX_copy_ex(copy, impl_->ctx);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(copy, out, &len);
  EVP_MD_CTX_free(copy);
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
