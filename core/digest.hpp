// Content digests ("sha256:<hex>", "sha512:<hex>") and streaming hashers (OpenSSL).
#pragma once

#include "core/result.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace rs {

enum class DigestAlgorithm { sha256, sha512 };

struct Digest {
  DigestAlgorithm algorithm = DigestAlgorithm::sha256;
  std::string hex;  // lowercase, 64 or 128 characters

  std::string_view algorithm_name() const {
    return algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512";
  }
  std::string str() const { return std::string(algorithm_name()) + ":" + hex; }
  bool operator==(const Digest&) const = default;

  // Parses "algorithm:hex". Unknown algorithms are Errc::unsupported, anything
  // malformed (wrong length, uppercase, other characters) Errc::invalid_argument.
  static Result<Digest> parse(std::string_view text);
};

// Incremental hash. Copyable state lets an upload keep hashing across requests.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm algorithm = DigestAlgorithm::sha256);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Returns the digest of everything so far; the hasher stays usable.
  Digest digest() const;
  DigestAlgorithm algorithm() const { return algorithm_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DigestAlgorithm algorithm_;
};

Digest digest_of(std::string_view data, DigestAlgorithm algorithm = DigestAlgorithm::sha256);

}  // namespace rs
