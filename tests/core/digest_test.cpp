#include "core/digest.hpp"

#include <catch2/catch.hpp>

using rs::Digest;
using rs::DigestAlgorithm;

TEST_CASE("sha256 of known inputs") {
  CHECK(rs::digest_of("").str() ==
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(rs::digest_of("abc").str() ==
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha512 of a known input") {
  CHECK(rs::digest_of("abc", DigestAlgorithm::sha512).hex.substr(0, 32) == "ddaf35a193617abacc417349ae204131");
}

TEST_CASE("incremental hashing equals one-shot hashing") {
  rs::Hasher h;
  h.update("hello ");
  auto partial = h.digest();  // taking a digest must not disturb the state
  h.update("world");
  CHECK(partial == rs::digest_of("hello "));
  CHECK(h.digest() == rs::digest_of("hello world"));
}

TEST_CASE("digest parsing accepts only canonical digests") {
  auto good = Digest::parse("sha256:" + std::string(64, 'a'));
  REQUIRE(good.ok());
  CHECK(good->algorithm == DigestAlgorithm::sha256);
  CHECK(Digest::parse("sha512:" + std::string(128, '0')).ok());

  CHECK(Digest::parse("sha256:" + std::string(63, 'a')).error().code == rs::Errc::invalid_argument);
  CHECK(Digest::parse("sha256:" + std::string(64, 'A')).error().code == rs::Errc::invalid_argument);
  CHECK(Digest::parse("sha256:../../../../etc/passwd").error().code == rs::Errc::invalid_argument);
  CHECK(Digest::parse(std::string(64, 'a')).error().code == rs::Errc::invalid_argument);
  CHECK(Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e").error().code == rs::Errc::unsupported);
  CHECK(Digest::parse("Sha256:" + std::string(64, 'a')).error().code == rs::Errc::invalid_argument);
}
