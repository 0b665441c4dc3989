#include "agent/host/http_probe.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

using namespace rs::agent;

namespace {

// A one-shot server on 127.0.0.1, port 0, answering with `response` (or nothing).
struct OneShot {
  int fd = -1;
  int port = 0;
  std::thread thread;
  explicit OneShot(std::string response) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::listen(fd, 1);
    thread = std::thread([this, response] {
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      if (!response.empty()) (void)::send(c, response.data(), response.size(), MSG_NOSIGNAL);
      else std::this_thread::sleep_for(std::chrono::milliseconds(600));
      ::close(c);
    });
  }
  ~OneShot() {
    thread.join();
    ::close(fd);
  }
};

}  // namespace

TEST_CASE("http probe: a registry answers /v2/ with its API version header") {
  OneShot server("HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}");
  auto r = probe_registry("127.0.0.1", server.port);
  CHECK(r.ok());
}

TEST_CASE("http probe: other servers, silence and closed ports are errors") {
  {
    OneShot server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    auto r = probe_registry("127.0.0.1", server.port);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("without a Docker-Distribution-API-Version header"));
  }
  {
    OneShot server("");
    auto r = probe_registry("127.0.0.1", server.port, {}, std::chrono::milliseconds(300));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == rs::Errc::timeout);
  }
  int port = 0;
  {
    OneShot server("x");
    port = server.port;
    auto garbage = probe_registry("127.0.0.1", port);
    REQUIRE_FALSE(garbage.ok());  // "x" is no HTTP answer
  }
  auto closed = probe_registry("127.0.0.1", port);
  REQUIRE_FALSE(closed.ok());
  CHECK_THAT(closed.error().message, Catch::Contains("GET http://127.0.0.1:"));
}
