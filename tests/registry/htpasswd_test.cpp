#include "registry/htpasswd.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

using namespace rs::registry;
using Clock = std::chrono::steady_clock;

namespace {

// Made by Debian's `htpasswd -nbB -C 10 alice 's3cret!'` and `htpasswd -nbB -C 4 bob hunter2`.
constexpr const char* kAlice = "$2y$10$9jn2JZrD3Ti6A3Pma/0Vm.BCWOZjWoLnxFaG1x2yijxSAFlOlBkSa";
constexpr const char* kBob = "$2y$04$pkQphvdbgA71XjnHaQKneOeWZ6mkggieIN1jlDvwh7ykXdGaxCV0a";

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// A checker on a file with a clock the test moves and the errors it logged.
struct Fixture {
  rs::testing::TempDir dir;
  std::string path = (dir.path / "htpasswd").string();
  Clock::time_point t = Clock::now();
  std::vector<std::string> errors;
  std::unique_ptr<HtpasswdChecker> checker;

  explicit Fixture(const std::string& text, HtpasswdCheckerOptions o = {}) {
    write(path, text);
    o.now = [this] { return t; };
    o.log_error = [this](const std::string& m) { errors.push_back(m); };
    checker = std::make_unique<HtpasswdChecker>(path, std::move(o));
    REQUIRE(checker->load().ok());
  }
  HtpasswdChecker::Verdict check(const std::string& user, const std::string& pass, const std::string& remote = "10.0.0.1") {
    return checker->check({user, pass}, remote).verdict;
  }
};

}  // namespace

TEST_CASE("htpasswd lines: bcrypt entries kept, comments and blank lines skipped, the rest listed with lines") {
  const std::string text = std::string("# users\n\nalice:") + kAlice + "\r\n" +
                           "carol:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\n"
                           "dave:$apr1$OI3sP3Ls$CclgUr7Q9ZZXdMsLRcm340\n"
                           "erin:plain\n"
                           "no colon here\n"
                           ":" + kBob + "\n" +
                           "  # indented comment\n"
                           "bob:" + kBob + "\n" +
                           "alice:" + kBob + "\n";
  auto set = parse_htpasswd(text, "pw");
  REQUIRE(set.ok());
  REQUIRE(set->entries.size() == 2);
  CHECK(set->entries[0].user == "alice");
  CHECK(set->entries[0].hash == kAlice);
  CHECK(set->entries[1].user == "bob");
  REQUIRE(set->problems.size() == 6);
  CHECK_THAT(set->problems[0], Catch::StartsWith("pw:4: user 'carol': not a bcrypt hash"));
  CHECK_THAT(set->problems[1], Catch::StartsWith("pw:5: user 'dave': not a bcrypt hash"));
  CHECK_THAT(set->problems[2], Catch::StartsWith("pw:6: user 'erin': not a bcrypt hash"));
  CHECK(set->problems[3] == "pw:7: expected USER:HASH");
  CHECK(set->problems[4] == "pw:8: empty user name");
  CHECK_THAT(set->problems[5], Catch::StartsWith("pw:11: user 'alice': listed again; line 3 counts"));
}

TEST_CASE("htpasswd bounds: file size, line length, user name length") {
  CHECK_FALSE(parse_htpasswd(std::string(kMaxHtpasswdBytes + 1, '#'), "pw").ok());
  auto long_line = parse_htpasswd("# " + std::string(kMaxHtpasswdLine, 'x') + "\n", "pw");
  REQUIRE(long_line.ok());
  REQUIRE(long_line->problems.size() == 1);
  CHECK_THAT(long_line->problems[0], Catch::Contains("pw:1: line longer than 4096"));
  auto long_user = parse_htpasswd(std::string(kMaxUserName + 1, 'u') + ":" + kBob + "\n", "pw");
  REQUIRE(long_user.ok());
  CHECK(long_user->entries.empty());
  CHECK_THAT(long_user->problems.at(0), Catch::Contains("user name longer than 256"));
  auto max_user = parse_htpasswd(std::string(kMaxUserName, 'u') + ":" + kBob + "\n", "pw");
  REQUIRE(max_user.ok());
  CHECK(max_user->entries.size() == 1);

  rs::testing::TempDir dir;
  const auto big = (dir.path / "big").string();
  write(big, std::string(kMaxHtpasswdBytes + 1, '#'));
  auto loaded = load_htpasswd(big);
  REQUIRE_FALSE(loaded.ok());
  CHECK_THAT(loaded.error().message, Catch::Contains("larger than"));
  CHECK_FALSE(load_htpasswd((dir.path / "absent").string()).ok());
  CHECK_FALSE(load_htpasswd(dir.str()).ok());
}

TEST_CASE("is_bcrypt takes $2a$, $2b$, $2y$ of 60 characters only") {
  CHECK(is_bcrypt(kAlice));
  std::string h = kAlice;
  h[2] = 'b';
  CHECK(is_bcrypt(h));
  h[2] = 'a';
  CHECK(is_bcrypt(h));
  h[2] = 'x';
  CHECK_FALSE(is_bcrypt(h));
  CHECK_FALSE(is_bcrypt(std::string(kAlice).substr(0, 59)));
  CHECK_FALSE(is_bcrypt("$2y$03$pkQphvdbgA71XjnHaQKneOeWZ6mkggieIN1jlDvwh7ykXdGaxCV0a"));
  CHECK_FALSE(is_bcrypt("$2y$04$pkQphvdbgA71XjnHaQKneOeWZ6mkggieIN1jlDvwh7ykXdGaxCV0!"));
  CHECK_FALSE(is_bcrypt("{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI="));
}

TEST_CASE("crypt_verify: the right password of an Apache bcrypt hash, not a wrong one") {
  const auto t0 = Clock::now();
  CHECK(crypt_verify("s3cret!", kAlice));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("bcrypt verify at cost 10: %.1f ms\n", ms);
  CHECK_FALSE(crypt_verify("s3cret", kAlice));
  CHECK_FALSE(crypt_verify(std::string_view("s3cret!\0", 8), kAlice));
  CHECK(crypt_verify("hunter2", kBob));
  CHECK_FALSE(crypt_verify("hunter2", "{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI="));
  CHECK_FALSE(crypt_verify("", ""));
}

TEST_CASE("bcrypt_hash makes $2b$ hashes that verify, with fresh salts, at a bounded cost") {
  auto a = bcrypt_hash("pw", 4);
  auto b = bcrypt_hash("pw", 4);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->substr(0, 7) == "$2b$04$");
  CHECK(is_bcrypt(*a));
  CHECK(*a != *b);
  CHECK(crypt_verify("pw", *a));
  CHECK_FALSE(crypt_verify("px", *a));
  CHECK_FALSE(bcrypt_hash("pw", 3).ok());
  CHECK_FALSE(bcrypt_hash("pw", 32).ok());
}

TEST_CASE("base64: strict, padded, one encoding per value") {
  CHECK(base64_decode("") == "");
  CHECK(base64_decode("YQ==") == "a");
  CHECK(base64_decode("YWI=") == "ab");
  CHECK(base64_decode("YWJj") == "abc");
  CHECK(base64_decode("YWxpY2U6czNjcmV0IQ==") == "alice:s3cret!");
  CHECK(base64_decode("/+8=") == std::string("\xff\xef"));
  CHECK_FALSE(base64_decode("YQ"));      // unpadded
  CHECK_FALSE(base64_decode("YQ="));
  CHECK_FALSE(base64_decode("Y==="));    // too much padding
  CHECK_FALSE(base64_decode("YR=="));    // unused bits set
  CHECK_FALSE(base64_decode("YQ==YWJj"));  // padding in the middle
  CHECK_FALSE(base64_decode("Y=Jj"));
  CHECK_FALSE(base64_decode("YW J"));
  CHECK_FALSE(base64_decode("YW-_"));    // the URL alphabet
}

TEST_CASE("Authorization: Basic parsed strictly and bounded") {
  auto c = parse_basic_authorization("Basic YWxpY2U6czNjcmV0IQ==");
  REQUIRE(c);
  CHECK(c->user == "alice");
  CHECK(c->password == "s3cret!");
  // A colon in the password belongs to it.
  auto colon = parse_basic_authorization("basic " + std::string("YTpiOmM="));
  REQUIRE(colon);
  CHECK(colon->user == "a");
  CHECK(colon->password == "b:c");
  CHECK_FALSE(parse_basic_authorization("Bearer YWxpY2U6czNjcmV0IQ=="));
  CHECK_FALSE(parse_basic_authorization("BasicYWxpY2U6czNjcmV0IQ=="));
  CHECK_FALSE(parse_basic_authorization("Basic "));
  CHECK_FALSE(parse_basic_authorization("Basic YWxpY2U="));   // "alice": no colon
  CHECK_FALSE(parse_basic_authorization("Basic OnB3"));        // ":pw": no user
  CHECK_FALSE(parse_basic_authorization("Basic YWxpY2U6czNjcmV0IQ"));
  CHECK_FALSE(parse_basic_authorization(""));
  // Bounded: a header past 4 KiB is refused before it is decoded.
  CHECK_FALSE(parse_basic_authorization("Basic " + std::string(4096, 'A')));
}

TEST_CASE("the checker: right password allowed, wrong denied, unknown and refused users denied") {
  Fixture f(std::string("alice:") + kAlice + "\nbob:" + kBob + "\ncarol:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\n");
  REQUIRE(f.errors.size() == 1);
  CHECK_THAT(f.errors[0], Catch::Contains(":3: user 'carol': not a bcrypt hash"));
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.check("alice", "wrong") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("bob", "hunter2") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.check("carol", "x") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("mallory", "x") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("Alice", "s3cret!") == HtpasswdChecker::Verdict::denied);
}

TEST_CASE("the checker's cache: a hit runs no bcrypt, a miss after the TTL does, failures are not cached") {
  Fixture f(std::string("alice:") + kAlice + "\n");
  CHECK(f.checker->would_block({"alice", "s3cret!"}));
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.checker->crypt_calls() == 1);
  CHECK_FALSE(f.checker->would_block({"alice", "s3cret!"}));
  CHECK(f.checker->would_block({"alice", "other"}));
  const auto t0 = Clock::now();
  constexpr int kRounds = 1000;
  for (int i = 0; i < kRounds; ++i) REQUIRE(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kRounds;
  std::printf("cached verify: %.2f us\n", us);
  CHECK(f.checker->crypt_calls() == 1);
  // A wrong password is checked every time.
  CHECK(f.check("alice", "wrong") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("alice", "wrong") == HtpasswdChecker::Verdict::denied);
  CHECK(f.checker->crypt_calls() == 3);
  f.t += std::chrono::seconds(61);
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.checker->crypt_calls() == 4);
}

TEST_CASE("the checker: a verification in use stays remembered, an idle one expires") {
  Fixture f(std::string("alice:") + kAlice + "\n");
  REQUIRE(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  // Used every 40 s for four minutes: one bcrypt in all (no expiry that would send every
  // request in flight to bcrypt at once).
  for (int i = 0; i < 6; ++i) {
    f.t += std::chrono::seconds(40);
    REQUIRE(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  }
  CHECK(f.checker->crypt_calls() == 1);
  f.t += std::chrono::seconds(61);
  CHECK(f.checker->would_block({"alice", "s3cret!"}));
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.checker->crypt_calls() == 2);
}

TEST_CASE("the checker's cache is bounded: the least recently used goes") {
  HtpasswdCheckerOptions o;
  o.cache_entries = 2;
  Fixture f(std::string("alice:") + kAlice + "\nbob:" + kBob + "\ncarl:" + kBob + "\n", o);
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.check("bob", "hunter2") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);  // alice used last
  CHECK(f.check("carl", "hunter2") == HtpasswdChecker::Verdict::allowed);   // bob goes
  CHECK(f.checker->crypt_calls() == 3);
  CHECK_FALSE(f.checker->would_block({"alice", "s3cret!"}));
  CHECK_FALSE(f.checker->would_block({"carl", "hunter2"}));
  CHECK(f.checker->would_block({"bob", "hunter2"}));
}

TEST_CASE("the checker re-reads a changed file, at most once a reload interval, and keeps the last good users") {
  Fixture f(std::string("alice:") + kAlice + "\n");
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::allowed);
  // Bob comes, alice goes (a different size, so the change shows even within one mtime tick).
  write(f.path, std::string("bob:") + kBob + "\n\n");
  CHECK(f.check("bob", "hunter2", "10.0.0.2") == HtpasswdChecker::Verdict::denied);  // within the interval
  f.t += std::chrono::seconds(1);
  CHECK(f.check("bob", "hunter2", "10.0.0.2") == HtpasswdChecker::Verdict::allowed);
  // A cached verification does not outlive its user.
  CHECK(f.check("alice", "s3cret!") == HtpasswdChecker::Verdict::denied);
  // A changed password: the old cached one no longer counts.
  CHECK(f.check("bob", "hunter2", "10.0.0.2") == HtpasswdChecker::Verdict::allowed);
  auto fresh = bcrypt_hash("new", 4);
  REQUIRE(fresh.ok());
  write(f.path, "bob:" + *fresh + "\n");
  f.t += std::chrono::seconds(1);
  CHECK(f.check("bob", "hunter2", "10.0.0.3") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("bob", "new", "10.0.0.3") == HtpasswdChecker::Verdict::allowed);
  // Unreadable: the last good users stay, the error is logged once.
  const auto errors_before = f.errors.size();
  REQUIRE(std::remove(f.path.c_str()) == 0);
  f.t += std::chrono::seconds(1);
  CHECK(f.check("bob", "new", "10.0.0.3") == HtpasswdChecker::Verdict::allowed);
  f.t += std::chrono::seconds(1);
  CHECK(f.check("bob", "new", "10.0.0.3") == HtpasswdChecker::Verdict::allowed);
  CHECK(f.errors.size() == errors_before + 1);
  // Too large is as bad as absent.
  write(f.path, std::string(kMaxHtpasswdBytes + 1, '#'));
  f.t += std::chrono::seconds(1);
  CHECK(f.check("bob", "new", "10.0.0.3") == HtpasswdChecker::Verdict::allowed);
  // Good again: read.
  write(f.path, std::string("alice:") + kAlice + "\n");
  f.t += std::chrono::seconds(1);
  CHECK(f.check("bob", "new", "10.0.0.3") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("alice", "s3cret!", "10.0.0.4") == HtpasswdChecker::Verdict::allowed);
}

TEST_CASE("the checker throttles an address after 10 failures within a minute, others go on") {
  Fixture f(std::string("bob:") + kBob + "\n");
  for (int i = 0; i < 10; ++i) REQUIRE(f.check("bob", "wrong", "10.0.0.9") == HtpasswdChecker::Verdict::denied);
  auto o = f.checker->check({"bob", "hunter2"}, "10.0.0.9");
  CHECK(o.verdict == HtpasswdChecker::Verdict::throttled);
  CHECK(o.retry_after == std::chrono::seconds(60));
  const auto calls = f.checker->crypt_calls();
  f.t += std::chrono::seconds(45);
  o = f.checker->check({"bob", "hunter2"}, "10.0.0.9");
  CHECK(o.verdict == HtpasswdChecker::Verdict::throttled);
  CHECK(o.retry_after == std::chrono::seconds(15));
  CHECK(f.checker->crypt_calls() == calls);  // a throttled address costs no bcrypt
  CHECK(f.check("bob", "hunter2", "10.0.0.10") == HtpasswdChecker::Verdict::allowed);
  f.t += std::chrono::seconds(15);
  CHECK(f.check("bob", "hunter2", "10.0.0.9") == HtpasswdChecker::Verdict::allowed);
  // Nine failures do not throttle.
  for (int i = 0; i < 9; ++i) REQUIRE(f.check("nobody", "x", "10.0.0.11") == HtpasswdChecker::Verdict::denied);
  CHECK(f.check("bob", "hunter2", "10.0.0.11") == HtpasswdChecker::Verdict::allowed);
}

TEST_CASE("the failure table is bounded") {
  HtpasswdCheckerOptions o;
  o.max_clients = 3;
  o.max_failures = 2;
  Fixture f(std::string("bob:") + kBob + "\n", o);
  for (int i = 0; i < 2; ++i) f.check("nobody", "x", "a");
  CHECK(f.check("bob", "hunter2", "a") == HtpasswdChecker::Verdict::throttled);
  // Three more addresses: the oldest window ("a") goes to make room.
  for (const char* r : {"b", "c", "d"}) {
    f.t += std::chrono::seconds(1);
    f.check("nobody", "x", r);
  }
  CHECK(f.check("bob", "hunter2", "a") == HtpasswdChecker::Verdict::allowed);
}

TEST_CASE("the checker is safe to call from several threads") {
  Fixture f(std::string("bob:") + kBob + "\n");
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 50; ++k)
        if (f.checker->check({"bob", "hunter2"}, "t" + std::to_string(i)).verdict == HtpasswdChecker::Verdict::allowed)
          ++allowed;
    });
  for (auto& t : threads) t.join();
  CHECK(allowed == 200);
}

TEST_CASE("an unknown user costs a bcrypt like a known one: the answer's time does not tell who exists") {
  Fixture f(std::string("alice:") + kAlice + "\n");
  CHECK(f.checker->would_block({"mallory", "x"}));
  const auto t0 = Clock::now();
  CHECK(f.check("alice", "wrong") == HtpasswdChecker::Verdict::denied);
  const auto known = Clock::now() - t0;
  const auto t1 = Clock::now();
  CHECK(f.check("mallory", "x") == HtpasswdChecker::Verdict::denied);
  const auto unknown = Clock::now() - t1;
  CHECK(f.checker->crypt_calls() == 2);
  std::printf("wrong password: %.1f ms, unknown user: %.1f ms\n",
              std::chrono::duration<double, std::milli>(known).count(),
              std::chrono::duration<double, std::milli>(unknown).count());
}
