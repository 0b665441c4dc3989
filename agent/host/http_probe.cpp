#include "agent/host/http_probe.hpp"

#include "core/fd.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace rs::agent {
namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<long>(0, left.count()));
}

}  // namespace

Result<std::string> check_v2_head(const std::string& head, const std::string& what) {
  std::string status = head.substr(0, head.find_first_of("\r\n"));
  std::string lower = "\n" + head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (status.rfind("HTTP/", 0) != 0) return make_error(Errc::io, what + ": not an HTTP answer");
  if (lower.find("\ndocker-distribution-api-version:") == std::string::npos)
    return make_error(Errc::conflict, what + ": answered '" + status + "' without a Docker-Distribution-API-Version header");
  if (status.find(" 200") == std::string::npos && status.find(" 401") == std::string::npos)
    return make_error(Errc::conflict, what + ": answered '" + status + "'");
  return status;
}

namespace {

using Deadline = std::chrono::steady_clock::time_point;

// A connected non-blocking TCP socket to the first address of host:port that answers.
Result<Fd> connect_to(const std::string& host, int port, Deadline deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return make_error(Errc::unavailable, ::gai_strerror(rc));
  std::string last_error = "no address";
  Fd sock;
  for (addrinfo* a = found; a; a = a->ai_next) {
    Fd s(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!s) continue;
    if (::connect(s.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      continue;
    }
    pollfd p{s.get(), POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
      last_error = "connect timed out";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last_error = std::strerror(err);
      continue;
    }
    sock = std::move(s);
    break;
  }
  ::freeaddrinfo(found);
  if (!sock) return make_error(Errc::unavailable, last_error);
  return sock;
}

Result<void> send_all(const Fd& sock, const std::string& data, Deadline deadline) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    pollfd p{sock.get(), POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return make_error(Errc::timeout, "send timed out");
    ssize_t n = ::send(sock.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return make_error(Errc::io, std::strerror(errno));
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  return ok();
}

// The status line and headers of the answer, at most kMaxHeaderBytes.
Result<std::string> read_head(const Fd& sock, Deadline deadline) {
  std::string response;
  while (response.find("\r\n\r\n") == std::string::npos && response.size() < kMaxHeaderBytes) {
    pollfd p{sock.get(), POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return make_error(Errc::timeout, "no answer in time");
    char buf[4096];
    ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(Errc::io, std::strerror(errno));
    }
    response.append(buf, static_cast<std::size_t>(n));
  }
  auto header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return make_error(Errc::io, "not an HTTP answer");
  return response.substr(0, header_end);
}

}  // namespace

Result<void> probe_registry(const std::string& host, int port, std::chrono::milliseconds timeout) {
  const std::string what = "GET http://" + host + ":" + std::to_string(port) + "/v2/";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto sock = connect_to(host, port, deadline);
  if (!sock) return make_error(Errc::unavailable, what + ": " + sock.error().message);
  const std::string request = "GET /v2/ HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                              "\r\nUser-Agent: registry-setup\r\nConnection: close\r\n\r\n";
  if (auto sent = send_all(*sock, request, deadline); !sent) return sent.error().with_context(what);
  auto head = read_head(*sock, deadline);
  if (!head) return head.error().with_context(what);
  auto judged = check_v2_head(*head, what);
  if (!judged) return judged.error();
  return ok();
}

}  // namespace rs::agent
