#include "registry/names.hpp"

#include <catch2/catch.hpp>

using namespace rs::registry;

TEST_CASE("repository names follow the distribution grammar") {
  for (const char* good : {"a", "library/busybox", "my-app", "a__b", "a.b/c-d/e_f", "a---b", "0/1/2"})
    CHECK(valid_repository_name(good));
  for (const char* bad : {"", "A", "Library/busybox", "a/", "/a", "a//b", "..", "a/../b", "a/./b", "%2e%2e",
                          "a___b", "-a", "a-", "a.", "_a", "a b", "a\\b", "a/_manifests", "a:b"})
    CHECK_FALSE(valid_repository_name(bad));
  CHECK(valid_repository_name(std::string(255, 'a')));
  CHECK_FALSE(valid_repository_name(std::string(256, 'a')));
}

TEST_CASE("tags") {
  for (const char* good : {"latest", "v1.0", "_x", "A-b.c_d", "1"}) CHECK(valid_tag(good));
  for (const char* bad : {"", ".x", "-x", "a/b", "a:b", "..", "a b"}) CHECK_FALSE(valid_tag(bad));
  CHECK(valid_tag(std::string(128, 'a')));
  CHECK_FALSE(valid_tag(std::string(129, 'a')));
}

TEST_CASE("upload ids") {
  CHECK(valid_upload_id("0123abcd-0123-4567-89ab-0123456789ab"));
  CHECK_FALSE(valid_upload_id("0123ABCD-0123-4567-89ab-0123456789ab"));
  CHECK_FALSE(valid_upload_id("../../../../../../../../../etc/passwd"));
  CHECK_FALSE(valid_upload_id(""));
}
