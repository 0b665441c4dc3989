#include "agent/host/http_probe.hpp"

#include "core/fd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

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

namespace {

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};

std::string tls_error_text() {
  unsigned long e = ERR_get_error();
  char buf[256] = "TLS failed";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Waits for what an SSL call that returned `rc` wants; an error when it failed for good.
Result<void> tls_wait(SSL* ssl, int rc, int fd, Deadline deadline, const char* step) {
  const int err = SSL_get_error(ssl, rc);
  short events = 0;
  if (err == SSL_ERROR_WANT_READ) events = POLLIN;
  else if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
  else if (err == SSL_ERROR_ZERO_RETURN) return make_error(Errc::io, std::string(step) + ": connection closed");
  else {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
      return make_error(Errc::conflict, std::string(step) + ": certificate not trusted: " +
                                            X509_verify_cert_error_string(verify));
    return make_error(Errc::io, std::string(step) + ": " + tls_error_text());
  }
  pollfd p{fd, events, 0};
  if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return make_error(Errc::timeout, std::string(step) + " timed out");
  return ok();
}

// The request over TLS, the server checked against `ca_pem` and `host`; the answer's head.
Result<std::string> tls_exchange(const Fd& sock, const std::string& host, const std::string& ca_pem,
                                 const std::string& request, Deadline deadline) {
  std::unique_ptr<SSL_CTX, Freer<SSL_CTX, SSL_CTX_free>> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return make_error(Errc::internal, tls_error_text());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  {
    std::unique_ptr<BIO, Freer<BIO, BIO_free_all>> bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      added += X509_STORE_add_cert(store, cert) == 1;
      X509_free(cert);
    }
    ERR_clear_error();
    if (added == 0) return make_error(Errc::invalid_argument, "no PEM certificate in the CA to trust");
  }
  std::unique_ptr<SSL, Freer<SSL, SSL_free>> ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), sock.get()) != 1) return make_error(Errc::internal, tls_error_text());
  unsigned char addr[16];
  const bool ip = ::inet_pton(AF_INET, host.c_str(), addr) == 1 || ::inet_pton(AF_INET6, host.c_str(), addr) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1
         : (SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1 || X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) != 1))
    return make_error(Errc::invalid_argument, "'" + host + "': " + tls_error_text());
  for (int rc; (rc = SSL_connect(ssl.get())) != 1;)
    if (auto w = tls_wait(ssl.get(), rc, sock.get(), deadline, "TLS handshake"); !w) return w.error();
  for (std::size_t sent = 0; sent < request.size();) {
    const int n = SSL_write(ssl.get(), request.data() + sent, static_cast<int>(request.size() - sent));
    if (n > 0) sent += static_cast<std::size_t>(n);
    else if (auto w = tls_wait(ssl.get(), n, sock.get(), deadline, "send"); !w) return w.error();
  }
  std::string response;
  while (response.find("\r\n\r\n") == std::string::npos && response.size() < kMaxHeaderBytes) {
    char buf[4096];
    const int n = SSL_read(ssl.get(), buf, sizeof buf);
    if (n > 0) {
      response.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (SSL_get_error(ssl.get(), n) == SSL_ERROR_ZERO_RETURN) break;
    if (auto w = tls_wait(ssl.get(), n, sock.get(), deadline, "answer"); !w) return w.error();
  }
  auto header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return make_error(Errc::io, "not an HTTP answer");
  return response.substr(0, header_end);
}

}  // namespace

Result<void> probe_registry(const std::string& host, int port, const std::string& ca_pem,
                            std::chrono::milliseconds timeout) {
  const bool tls = !ca_pem.empty();
  const std::string what = std::string("GET ") + (tls ? "https://" : "http://") + host + ":" + std::to_string(port) + "/v2/";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto sock = connect_to(host, port, deadline);
  if (!sock) return make_error(Errc::unavailable, what + ": " + sock.error().message);
  const std::string request = "GET /v2/ HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                              "\r\nUser-Agent: registry-setup\r\nConnection: close\r\n\r\n";
  Result<std::string> head = make_error(Errc::internal, "not read");
  if (tls) {
    head = tls_exchange(*sock, host, ca_pem, request, deadline);
  } else {
    if (auto sent = send_all(*sock, request, deadline); !sent) return sent.error().with_context(what);
    head = read_head(*sock, deadline);
  }
  if (!head) return head.error().with_context(what);
  auto judged = check_v2_head(*head, what);
  if (!judged) return judged.error();
  return ok();
}

}  // namespace rs::agent
