// Any bytes as what a client sends on one connection, to the real server: the Session's
// request reader (request line, headers, Content-Length and chunked bodies, pipelining),
// the router and the Api, over a memory store. Each input goes on a new loopback
// connection, the client's side is then shut for writing, and the server must answer (or
// not) and close: a hang, a crash in any server thread, or an answer that does not start
// with an HTTP status line is a finding.
#include "core/log.hpp"
#include "registry/api.hpp"
#include "registry/memory_driver.hpp"
#include "registry/server.hpp"
#include "registry/store.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

using namespace rs::registry;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "http_fuzz: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

// One server for the whole run, on 127.0.0.1 and a port of its own. Never destroyed: its
// threads keep running until the process exits.
struct Registry {
  MemoryDriver driver;
  Store store{driver};
  Api api{store, ApiOptions{}};
  Server server{api, options()};
  std::uint16_t port = 0;
  std::thread thread;

  static ServerOptions options() {
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    o.blocking_threads = 1;
    o.header_timeout = std::chrono::seconds(5);
    o.io_timeout = std::chrono::seconds(5);
    o.access_log = false;
    return o;
  }

  Registry() {
    rs::log::init(0);
    rs::log::set_level("off");
    auto listening = server.listen();
    if (!listening) {
      std::fprintf(stderr, "http_fuzz: %s\n", listening.error().message.c_str());
      std::abort();
    }
    port = *listening;
    thread = std::thread([this] { server.run(false); });
  }
};

// Each connection comes from its own address in 127/8, so the client's TIME_WAIT sockets
// (a few hundred thousand in a long run) never run out of ports.
in_addr next_client_address() {
  static std::uint32_t n = 0;
  n = (n + 1) % (1u << 22);
  return in_addr{htonl((127u << 24) | (1u << 22) | n)};
}

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  // Longer than the server's own timeouts (5 s): a wait this long means it hangs.
  timeval tv{8, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr = next_client_address();
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) die("bind");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) return fd;
  // A signal (libFuzzer's timers) interrupted the wait: the connection goes on being made;
  // wait for it and read how it ended.
  if (errno != EINTR) die("connect");
  pollfd p{fd, POLLOUT, 0};
  int ready;
  while ((ready = ::poll(&p, 1, 8000)) < 0 && errno == EINTR) {
  }
  int error = 0;
  socklen_t size = sizeof error;
  if (ready != 1 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) die("connect");
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Registry* registry = new Registry;
  int fd = connect_to(registry->port);
  // The server may answer and close before it has read everything (a 400 on the first
  // bad line): a failed send is an answer too, not a finding.
  for (std::size_t sent = 0; sent < size;) {
    ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) die("the server stopped reading and kept the connection");
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) die("the server neither answered nor closed in 8 s");
    if (n <= 0) break;  // closed (or reset after an early answer)
    if (answer.size() < 16) answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!answer.empty() && answer.compare(0, 7, "HTTP/1.") != 0) {
    std::fprintf(stderr, "http_fuzz: the answer does not start with a status line: '%.16s'\n", answer.c_str());
    std::abort();
  }
  return 0;
}
