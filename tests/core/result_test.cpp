#include "core/result.hpp"

#include <catch2/catch.hpp>

#include <cerrno>

TEST_CASE("errno_error: the errno decides the code, the message keeps what failed and why") {
  using rs::Errc;
  struct Case {
    int err;
    Errc code;
  };
  for (auto [err, code] : {Case{ENOENT, Errc::not_found}, Case{ENOTDIR, Errc::not_found},
                           Case{EACCES, Errc::permission_denied}, Case{EPERM, Errc::permission_denied},
                           Case{EROFS, Errc::permission_denied}, Case{EEXIST, Errc::already_exists},
                           // Limits a client may meet under load: 503 and retry, not 500.
                           Case{EMFILE, Errc::exhausted}, Case{ENFILE, Errc::exhausted},
                           Case{ENOMEM, Errc::exhausted}, Case{EIO, Errc::io}, Case{ENOSPC, Errc::io}}) {
    INFO("errno " << err);
    auto e = rs::errno_error("open 'x'", err);
    CHECK(e.code == code);
    CHECK(e.message.rfind("open 'x': ", 0) == 0);
    CHECK(e.message.size() > 10);
  }
}
