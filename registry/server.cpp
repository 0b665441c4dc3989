#include "registry/server.hpp"

#include "core/log.hpp"
#include "registry/tls.hpp"

// <utility> before Asio: g++ 12 with Boost 1.74 needs std::exchange declared first.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstring>
#include <atomic>
#include <ctime>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace rs::registry {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

auto redirect(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

constexpr std::size_t kBodyChunk = 256 * 1024;
constexpr std::chrono::seconds kLinger{2};  // see Session::linger
constexpr int kWorkerNice = 10;  // the worker threads' nice value, see Server::Impl::offload
// Descriptors kept free of connections: the listener, logs, the storage's own files.
constexpr std::uint64_t kReservedFiles = 64;

// The body buffers of one thread: a connection takes one for a request with a body and
// gives it back when the request ends, so that idle connections hold none and busy ones
// do not allocate each time.
class ChunkPool {
 public:
  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::unique_ptr<char[]>(new char[kBodyChunk]);
    auto chunk = std::move(free_.back());
    free_.pop_back();
    return chunk;
  }
  void give(std::unique_ptr<char[]> chunk) {
    if (chunk && free_.size() < kKeep) free_.push_back(std::move(chunk));
  }

 private:
  static constexpr std::size_t kKeep = 8;
  std::vector<std::unique_ptr<char[]>> free_;
};
thread_local ChunkPool chunk_pool;

// HTTP errors of the client's making (a malformed request line, header or chunk), as
// opposed to the connection ending: those get a 400 before the connection closes.
bool client_protocol_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// An absolute-form target ("http://host:5000/v2/") as its path and query (RFC 9112 3.2.2).
std::string_view origin_form(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size()) continue;
    std::string_view prefix = target.substr(0, scheme.size());
    if (!std::equal(prefix.begin(), prefix.end(), scheme.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
      continue;
    auto path = target.find_first_of("/?", scheme.size());
    if (path == std::string_view::npos) return "/";
    return target.substr(path);
  }
  return target;
}

// TCP_CORK for the life of a scope: partial frames wait until uncorked.
class Cork {
 public:
  Cork(int fd, bool on) : fd_(on ? fd : -1) { set(1); }
  ~Cork() { set(0); }
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;

 private:
  void set(int value) {
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
  }
  int fd_;
};

// The access lines of one thread, written to stderr in batches: a line waits only until
// the handlers that are ready now have run, so an idle server writes each line at once and
// a busy thread writes many lines with one write(2). Lines look like the spdlog ones.
class AccessLog {
 public:
  explicit AccessLog(net::io_context& context) : context_(context) {}
  ~AccessLog() { flush(); }
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  template <class... Args>
  void line(fmt::format_string<Args...> format, Args&&... args) {
    append_prefix();
    fmt::format_to(std::back_inserter(buffer_), format, std::forward<Args>(args)...);
    buffer_.push_back('\n');
    if (buffer_.size() >= kFlushBytes) {
      flush();
    } else if (!flush_posted_) {
      flush_posted_ = true;
      net::post(context_, [this] {
        flush_posted_ = false;
        flush();
      });
    }
  }

  void flush() {
    const char* data = buffer_.data();
    std::size_t left = buffer_.size();
    while (left > 0) {
      ssize_t n = ::write(STDERR_FILENO, data, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // nowhere to log to: drop the lines rather than stall requests
      data += n;
      left -= static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }

 private:
  static constexpr std::size_t kFlushBytes = 32 * 1024;

  // "2026-11-28T17:18:22.665 info  registry: ", the date part formatted once a second.
  void append_prefix() {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    if (seconds != prefix_second_) {
      std::tm tm{};
      ::localtime_r(&seconds, &tm);
      prefix_len_ = std::strftime(prefix_, sizeof prefix_, "%Y-%m-%dT%H:%M:%S", &tm);
      prefix_second_ = seconds;
    }
    buffer_.append(prefix_, prefix_ + prefix_len_);
    fmt::format_to(std::back_inserter(buffer_), ".{:03} info  registry: ", ms % 1000);
  }

  net::io_context& context_;
  fmt::memory_buffer buffer_;
  bool flush_posted_ = false;
  std::time_t prefix_second_ = -1;
  char prefix_[32] = {};
  std::size_t prefix_len_ = 0;
};


// A connection the server will not keep gets a short 503 (if the socket takes it at once)
// instead of a bare reset, so the client knows to come back.
void refuse_connection(tcp::socket& socket, std::string_view why) {
  const std::string body = R"({"errors":[{"code":"UNAVAILABLE","message":")" + std::string(why) + R"(","detail":null}]})";
  const std::string answer = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      body.size(), body);
  beast::error_code ec;
  socket.non_blocking(true, ec);
  (void)::send(socket.native_handle(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

// TLS on a connection's own socket: OpenSSL reads and writes the (non-blocking) descriptor
// itself, so there is no BIO pair to copy through and kernel TLS can take the records over;
// a step that would block waits for the socket's readiness. An Asio stream (async_read_some,
// async_write_some) for Beast and net::async_write, used by one coroutine at a time.
class TlsStream {
 public:
  using executor_type = tcp::socket::executor_type;

  // Takes `ssl` (made from the context current at the accept) over.
  TlsStream(tcp::socket& socket, SSL* ssl) : socket_(socket), ssl_(ssl) {
    SSL_set_fd(ssl, socket.native_handle());
  }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  SSL* native() { return ssl_.get(); }

  template <class Token>
  auto async_handshake(Token&& token) {
    return async_step([this](beast::error_code& ec, std::size_t&) { return settle(SSL_accept(ssl_.get()), ec); },
                      std::forward<Token>(token));
  }

  // Reads what is there (at least a byte) into the first buffer, up to its size.
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    net::mutable_buffer into = first_buffer<net::mutable_buffer>(buffers);
    return async_step(
        [this, into](beast::error_code& ec, std::size_t& n) {
          return read(static_cast<char*>(into.data()), into.size(), ec, n);
        },
        std::forward<Token>(token));
  }

  // Writes all of the first buffer (a small sequence, a head and a body, as one record).
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    net::const_buffer from = first_buffer<net::const_buffer>(buffers);
    if (from.size() < net::buffer_size(buffers) && net::buffer_size(buffers) <= kGatherBytes) {
      gather_.resize(net::buffer_size(buffers));
      net::buffer_copy(net::buffer(gather_), buffers);
      from = net::buffer(gather_);
    }
    return async_step(
        [this, from](beast::error_code& ec, std::size_t& n) {
          return write(static_cast<const char*>(from.data()), from.size(), ec, n);
        },
        std::forward<Token>(token));
  }

  // Up to `size` bytes of file `fd` from `offset`, encrypted by the kernel (kernel_send() only).
  template <class Token>
  auto async_sendfile(int fd, std::uint64_t offset, std::size_t size, Token&& token) {
    return async_step(
        [this, fd, offset, size](beast::error_code& ec, std::size_t& n) {
          errno = 0;
          ERR_clear_error();
          const ossl_ssize_t sent = SSL_sendfile(ssl_.get(), fd, static_cast<off_t>(offset), size, 0);
          if (sent > 0) n = static_cast<std::size_t>(sent);
          return sent > 0 ? Want::nothing : settle(static_cast<int>(sent), ec);
        },
        std::forward<Token>(token));
  }

  // Whether the kernel encrypts what is sent (kernel TLS: sendfile works).
  bool kernel_send() { return BIO_get_ktls_send(SSL_get_wbio(ssl_.get())); }
  // After a failed handshake: why the client's certificate was refused, if it was.
  std::string verify_problem() {
    const long result = SSL_get_verify_result(ssl_.get());
    return result == X509_V_OK ? std::string() : X509_verify_cert_error_string(result);
  }
  // Whether a failure was the client speaking plain HTTP.
  static bool plain_http(const beast::error_code& ec) {
    return ec.category() == net::error::get_ssl_category() &&
           ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_SSL &&
           ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
  }
  // A close_notify, if the socket takes it now (the connection ends either way); not in the
  // middle of a step that waits (an alert cannot go out amid a record's retry).
  void notify_close() {
    if (!waiting_ && socket_.is_open() && SSL_is_init_finished(ssl_.get())) {
      ERR_clear_error();
      (void)SSL_shutdown(ssl_.get());
      ERR_clear_error();
    }
  }

 private:
  enum class Want { nothing, read, write };
  static constexpr std::size_t kGatherBytes = 16 * 1024;  // a TLS record

  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };

  template <class Buffer, class Buffers>
  static Buffer first_buffer(const Buffers& buffers) {
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers); ++it)
      if (Buffer b(*it); b.size() > 0) return b;
    return Buffer();
  }

  // Runs `step` until it no longer waits for the socket; the handler is never called from
  // within the initiating call (a step that completes at once is posted).
  template <class Step>
  struct Op {
    TlsStream& stream;
    Step step;
    bool started = false;
    bool finished = false;
    beast::error_code ec{};
    std::size_t n = 0;

    template <class Self>
    void operator()(Self& self, beast::error_code wait_error = {}) {
      if (finished) return self.complete(ec, n);
      const bool continuation = std::exchange(started, true);
      stream.waiting_ = false;
      if (wait_error) return self.complete(wait_error, 0);  // the socket was closed meanwhile
      // (A closed socket's number may belong to another connection by now: never used.)
      if (!stream.socket_.is_open()) ec = net::error::bad_descriptor;
      else if (Want want = step(ec, n); want != Want::nothing) {
        stream.waiting_ = true;
        return stream.socket_.async_wait(want == Want::read ? tcp::socket::wait_read : tcp::socket::wait_write,
                                         std::move(self));
      }
      if (continuation) return self.complete(ec, n);
      finished = true;
      net::post(stream.socket_.get_executor(), std::move(self));
    }
  };

  template <class Step, class Token>
  auto async_step(Step step, Token&& token) {
    return net::async_compose<Token, void(beast::error_code, std::size_t)>(Op<Step>{*this, std::move(step)}, token,
                                                                           socket_);
  }

  Want read(char* data, std::size_t size, beast::error_code& ec, std::size_t& n) {
    while (n < size) {
      errno = 0;
      ERR_clear_error();
      std::size_t got = 0;
      const int r = SSL_read_ex(ssl_.get(), data + n, size - n, &got);
      if (r == 1) {
        n += got;
        continue;
      }
      const Want want = settle(r, ec);
      // What was read goes first; an end or an error shows again on the next read.
      if (n > 0) {
        ec = {};
        return Want::nothing;
      }
      return want;
    }
    return Want::nothing;
  }

  // Without partial writes: all of it, or a wait, after which the same call goes on.
  Want write(const char* data, std::size_t size, beast::error_code& ec, std::size_t& n) {
    if (size == 0) return Want::nothing;  // (OpenSSL refuses an empty write)
    errno = 0;
    ERR_clear_error();
    const int r = SSL_write_ex(ssl_.get(), data, size, &n);
    return r == 1 ? Want::nothing : settle(r, ec);
  }

  // A call's failure: what it waits for, or the error (OpenSSL's reason, or errno's).
  Want settle(int r, beast::error_code& ec) {
    if (r == 1) return Want::nothing;
    const int saved_errno = errno;
    switch (SSL_get_error(ssl_.get(), r)) {
      case SSL_ERROR_WANT_READ:
        return Want::read;
      case SSL_ERROR_WANT_WRITE:
        return Want::write;
      case SSL_ERROR_ZERO_RETURN:
        ec = net::error::eof;
        break;
      case SSL_ERROR_SYSCALL:
        ec = saved_errno ? beast::error_code(saved_errno, beast::system_category()) : beast::error_code(net::error::eof);
        break;
      default: {
        const unsigned long e = ERR_get_error();
        if (e == 0) ec = net::error::eof;
        else if (ERR_SYSTEM_ERROR(e)) ec = beast::error_code(ERR_GET_REASON(e), beast::system_category());
        else ec = beast::error_code(static_cast<int>(e), net::error::get_ssl_category());
      }
    }
    ERR_clear_error();
    return Want::nothing;
  }

  tcp::socket& socket_;
  std::unique_ptr<SSL, SslFree> ssl_;
  std::string gather_;    // a small write sequence made one buffer
  bool waiting_ = false;  // a step waits for the socket
};

// The answer to plain HTTP on a TLS port, then the connection closes.
void answer_plain_http(tcp::socket& socket) {
  static constexpr std::string_view kBody =
      R"({"errors":[{"code":"BAD_REQUEST","message":"this port speaks TLS: use https://","detail":null}]})";
  const std::string answer = fmt::format(
      "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      kBody.size(), kBody);
  (void)::send(socket.native_handle(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

class Session;

// One io_context per thread, each run by its thread alone: a connection lives on one of
// them, so its handlers never need a strand or a lock. The first also holds the acceptor,
// the signals and the shutdown timer.
struct Server::Impl {
  Impl(const Api& a, ServerOptions o)
      : api(a), options(std::move(o)), contexts(make_contexts(options.threads)),
        workers(std::max(1u, options.blocking_threads)) {
    for (auto& c : contexts) {
      guards.emplace_back(c->get_executor());
      access_logs.push_back(std::make_unique<AccessLog>(*c));
    }
  }

  static std::vector<std::unique_ptr<net::io_context>> make_contexts(unsigned threads) {
    unsigned n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<net::io_context>> out;
    for (unsigned i = 0; i < n; ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }

  ~Impl() { workers.join(); }

  net::io_context& main_context() { return *contexts.front(); }
  std::size_t next_context() { return next++ % contexts.size(); }
  // Closes every connection (or only those waiting for their next request); each ends
  // on its own thread, so the threads run out of work and return.
  void close_sessions(bool idle_only);

  // Runs `work` on a worker thread and resumes the calling coroutine on its own thread
  // with the result (or the exception): disk and hashing work never holds an I/O thread.
  template <class Work>
  net::awaitable<std::invoke_result_t<Work&>> offload(Work work);

  const Api& api;
  ServerOptions options;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;  // until shutdown
  std::vector<std::unique_ptr<AccessLog>> access_logs;                           // one per context
  std::size_t next = 0;  // accept loop only
  static constexpr std::chrono::seconds kRefusalLogInterval{10};
  std::size_t refused_since_log = 0;         // accept loop only
  Clock::time_point last_refusal_log{};      // accept loop only
  tcp::acceptor acceptor{main_context()};
  net::steady_timer grace_timer{main_context()};
  std::unique_ptr<net::signal_set> signals;
  std::unique_ptr<net::signal_set> reload_signals;  // SIGHUP
  TlsContexts* tls = nullptr;                        // set: every connection speaks TLS
  std::function<void()> on_stopping;
  std::atomic<bool> stopping{false};
  std::shared_ptr<spdlog::logger> log = rs::log::get("registry");
  net::thread_pool workers;  // last: joined first, while what its work uses still exists

  std::mutex sessions_mutex;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  std::unordered_map<std::string, std::size_t> per_client;  // open connections by address

  net::awaitable<void> accept_loop();
  // Registers a new connection, or says why it may not stay (the connection is not counted).
  std::optional<std::string> admit(const std::shared_ptr<Session>& session);
  void begin_shutdown();
  void await_reload();
  void reload();
  void session_ended(Session* s, const std::string& client);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // With `ssl` (taken over), the connection speaks TLS.
  Session(Server::Impl& server, tcp::socket socket, AccessLog& access_log, std::string remote, SSL* ssl)
      : server_(server), access_log_(access_log), socket_(std::move(socket)), timer_(socket_.get_executor()),
        deadline_(Clock::now() + server.options.header_timeout), remote_(std::move(remote)) {
    if (ssl) tls_ = std::make_unique<TlsStream>(socket_, ssl);
  }

  // After Server::Impl::admit() took it in.
  void start() {
    auto self = shared_from_this();
    // An exception (out of memory, a bug) ends this connection, never the process.
    auto on_end = [self](std::exception_ptr e) {
      if (e) self->failed_by(e);
    };
    net::co_spawn(socket_.get_executor(), watchdog(self), on_end);
    net::co_spawn(socket_.get_executor(), run(self), on_end);
  }

  ~Session() {
    if (admitted_) server_.session_ended(this, remote_);
  }

  // Called on shutdown: closes the connection now, or only if it waits for its next request.
  void close_from_any_thread(bool idle_only) {
    net::post(socket_.get_executor(), [self = shared_from_this(), idle_only] {
      if (self->idle_ || !idle_only) self->close();
    });
  }

  const std::string& remote() const { return remote_; }
  // A connection that was not admitted: answered 503 and closed on the acceptor's thread.
  // (A TLS client could not read a plain answer: it is only closed.)
  void refuse(std::string_view why) {
    if (tls_) close();
    else refuse_connection(socket_, why);
  }
  void set_admitted() { admitted_ = true; }
  // Since when the connection waits for a request (0: it is serving one). Read by the
  // acceptor to pick the connection that has been idle longest; claim_idle() takes it.
  Clock::rep idle_since() const { return idle_since_.load(std::memory_order_relaxed); }
  bool claim_idle(Clock::rep seen) { return idle_since_.compare_exchange_strong(seen, 0); }

 private:
  using HeaderParser = http::request_parser<http::empty_body>;
  static constexpr std::size_t kIdleBufferBytes = 4096;

  // How reading a request body ended: whole, stopped by the sink (with its answer), or
  // failed (why).
  struct BodyEnd {
    bool complete = false;
    std::optional<Response> early;
    beast::error_code error;
  };

  // Sets the deadline of the next read or write. Moving it later costs nothing (the
  // watchdog looks again when its timer fires); moving it earlier re-arms the timer.
  // A body held in memory also keeps to its whole-body deadline.
  void arm(std::chrono::seconds timeout) {
    deadline_ = std::min(Clock::now() + timeout, body_deadline_);
    if (deadline_ < timer_.expiry()) timer_.expires_at(deadline_);
  }

  void set_idle(bool idle) {
    idle_ = idle;
    idle_since_.store(idle ? std::max<Clock::rep>(1, Clock::now().time_since_epoch().count()) : 0,
                      std::memory_order_relaxed);
  }

  char* chunk() {
    if (!chunk_) chunk_ = chunk_pool.take();
    return chunk_.get();
  }

  // What a request borrowed goes back once it is answered: idle connections hold only
  // their small header buffer.
  void release_buffers() {
    chunk_pool.give(std::move(chunk_));
    if (buffer_.size() == 0 && buffer_.capacity() > kIdleBufferBytes) buffer_.shrink_to_fit();
  }

  void failed_by(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      server_.log->error("{}: connection ended by an exception: {}", remote_, x.what());
    } catch (...) {
      server_.log->error("{}: connection ended by an exception", remote_);
    }
    close();
  }

  void close() {
    if (tls_) tls_->notify_close();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
  }

  // Closes the socket when the current read or write makes no progress in time.
  net::awaitable<void> watchdog(std::shared_ptr<Session>) {
    while (socket_.is_open()) {
      if (deadline_ <= Clock::now()) {
        timed_out_ = true;
        close();
        co_return;
      }
      timer_.expires_at(deadline_);
      beast::error_code ec;
      co_await timer_.async_wait(redirect(ec));
    }
  }

  // Ends no one needs to hear about: the client closed or reset the connection, the server
  // is shutting down, or the connection sat idle past its timeout.
  bool ordinary_end(const beast::error_code& ec) const {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::broken_pipe)
      return true;
    return (ec == net::error::operation_aborted || ec == net::error::bad_descriptor) && (server_.stopping || idle_);
  }

  std::string cause(const beast::error_code& ec) const {
    return timed_out_ ? "timed out" : !failure_detail_.empty() ? failure_detail_ : ec.message();
  }

  // Every failed step of a connection is reported here, once, before the connection ends.
  void fail(const beast::error_code& ec, std::string_view what) {
    if (ordinary_end(ec)) server_.log->debug("{}: {}: {}", remote_, what, cause(ec));
    else server_.log->warn("{}: {}: {}", remote_, what, cause(ec));
  }

  net::awaitable<void> run(std::shared_ptr<Session>);
  net::awaitable<bool> handshake();
  net::awaitable<bool> read_request(HeaderParser& parser);
  net::awaitable<bool> serve(HeaderParser& parser);
  net::awaitable<std::optional<Response>> answer_body(HeaderParser& parser, const Request& req,
                                                      std::unique_ptr<BodySink>& sink, std::uint64_t& received,
                                                      bool& unread_body);
  net::awaitable<BodyEnd> read_body(HeaderParser& parser, BodySink& sink, std::uint64_t& received);
  net::awaitable<BodyEnd> read_sized_body(std::uint64_t length, BodySink& sink, std::uint64_t& received);
  net::awaitable<BodyEnd> read_chunked_body(HeaderParser& header_parser, BodySink& sink, std::uint64_t& received);
  net::awaitable<beast::error_code> write_response(Response& response, bool head, bool keep_alive,
                                                   unsigned version = 11);
  void serialize_head(const Response& response, bool keep_alive, unsigned version);
  net::awaitable<void> linger();
  net::awaitable<beast::error_code> send_file(int fd, std::uint64_t offset, std::uint64_t length);
  net::awaitable<beast::error_code> send_file_tls(int fd, std::uint64_t offset, std::uint64_t length);
  net::awaitable<beast::error_code> copy_file(FileReader& file, std::uint64_t offset, std::uint64_t length);

  Server::Impl& server_;
  AccessLog& access_log_;
  tcp::socket socket_;
  std::unique_ptr<TlsStream> tls_;  // over socket_, on a TLS connection
  net::steady_timer timer_;
  Clock::time_point deadline_;
  Clock::time_point body_deadline_ = Clock::time_point::max();
  beast::flat_buffer buffer_;
  std::unique_ptr<char[]> chunk_;  // from chunk_pool, while a request needs it
  std::string head_;    // the response head being written
  std::string remote_;  // the client's address: logs, and the per-client connection count
  std::uint64_t requests_ = 0;
  bool admitted_ = false;
  bool idle_ = true;
  std::atomic<Clock::rep> idle_since_{1};  // a new connection waits for its first request
  bool timed_out_ = false;        // the watchdog closed the connection
  std::string failure_detail_;   // what failed when no error code says it (a file read)
};

Request to_request(const http::request_header<>& head) {
  Request req;
  req.method = std::string(head.method_string());
  req.target = std::string(origin_form(std::string_view(head.target().data(), head.target().size())));
  req.headers.reserve(8);
  for (const auto& f : head) req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  return req;
}

net::awaitable<void> Session::run(std::shared_ptr<Session>) {
  if (tls_ && !co_await handshake()) {
    close();
    co_return;
  }
  while (!server_.stopping) {
    HeaderParser parser;
    if (!co_await read_request(parser)) break;
    ++requests_;
    bool again = co_await serve(parser);
    release_buffers();
    if (!again) break;
  }
  close();
}

// The TLS handshake, within the first request's header timeout (armed at the accept).
net::awaitable<bool> Session::handshake() {
  const auto started = Clock::now();
  beast::error_code ec;
  socket_.native_non_blocking(true, ec);
  if (!ec) co_await tls_->async_handshake(redirect(ec));
  if (ec) {
    if (TlsStream::plain_http(ec) && socket_.is_open()) {
      answer_plain_http(socket_);
      failure_detail_ = "plain HTTP on the TLS port (answered 400: use https://)";
    }
    if (const std::string why = tls_->verify_problem(); !why.empty() && !timed_out_)
      failure_detail_ = ec.message() + ": " + why;
    fail(ec, "TLS handshake");
    co_return false;
  }
  if (server_.log->should_log(spdlog::level::debug)) {
    SSL* ssl = tls_->native();
    std::string client;
    if (X509* peer = SSL_get_peer_certificate(ssl)) {
      char name[256] = {};
      X509_NAME_oneline(X509_get_subject_name(peer), name, sizeof name);
      client = std::string(", client certificate ") + name;
      X509_free(peer);
    }
    server_.log->debug("{}: {} {} in {:.1f} ms{}; downloads by {}", remote_, SSL_get_version(ssl),
                       SSL_get_cipher_name(ssl), std::chrono::duration<double, std::milli>(Clock::now() - started).count(),
                       client, tls_->kernel_send() ? "kernel TLS (sendfile)" : "user-space TLS (read, SSL_write)");
  }
  co_return true;
}

// Waits for the next request's header; false when the connection ends instead. Waiting
// for a request is bounded by the idle timeout, its header by the (shorter) header timeout
// from its first byte on; a new connection's first request has the header timeout from
// the accept.
net::awaitable<bool> Session::read_request(HeaderParser& parser) {
  parser.header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
  // Bodies go to sinks, which enforce their own limits. (Beast 1.74 compares the
  // limit as an optional, so boost::none would refuse every body: use the maximum.)
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  set_idle(true);
  beast::error_code ec;
  if (requests_ > 0 && buffer_.size() == 0) {
    // The next request's first bytes, read at once when they are already there (a busy
    // keep-alive connection): a wait for readiness first would cost a trip through epoll
    // for every request.
    arm(server_.options.idle_timeout);
    std::size_t n = 0;
    if (tls_) n = co_await tls_->async_read_some(buffer_.prepare(kIdleBufferBytes), redirect(ec));
    else n = co_await socket_.async_read_some(buffer_.prepare(kIdleBufferBytes), redirect(ec));
    buffer_.commit(n);
    if (ec) {
      fail(ec, "wait for a request");
      set_idle(false);
      co_return false;
    }
  }
  if (requests_ > 0) arm(server_.options.header_timeout);
  if (tls_) co_await http::async_read_header(*tls_, buffer_, parser, redirect(ec));
  else co_await http::async_read_header(socket_, buffer_, parser, redirect(ec));
  if (!ec) {
    set_idle(false);
    co_return true;
  }
  // (Still idle_ while reporting: a connection closed between requests is an ordinary end.)
  fail(ec, "read request");
  set_idle(false);
  if (client_protocol_error(ec) && socket_.is_open()) {
    // A malformed request gets a plain answer before the connection closes.
    Response bad = error_response(400, "BAD_REQUEST", ec.message());
    if (auto e = co_await write_response(bad, false, false)) fail(e, "write response");
  }
  co_return false;
}

// Hands a request to the API, feeds its body to the API's sink, writes the answer and the
// access line; false when the connection ends after it.
net::awaitable<bool> Session::serve(HeaderParser& parser) {
  const auto started = Clock::now();
  Request req = to_request(parser.get());
  req.remote = remote_;
  req.tls = tls_ != nullptr;
  bool keep_alive = parser.get().keep_alive();
  const unsigned version = parser.get().version();

  // HTTP/1.1 requests name exactly one Host (RFC 9112 3.2).
  const auto hosts = parser.get().count(http::field::host);
  const bool bad_host = version >= 11 ? hosts != 1 : hosts > 1;
  // Requests that write may wait for the disk or hash a whole upload: they run on a worker.
  const bool writes = req.method != "GET" && req.method != "HEAD";
  // So do requests whose credentials need a bcrypt (tens of ms, not cached): on an I/O
  // thread it would stall every connection of that thread.
  // (Plain statements: g++ 12 destroys a temporary twice when co_await sits in a ?: .)
  Dispatch d;
  if (bad_host) d.response = error_response(400, "BAD_REQUEST", "an HTTP/1.1 request needs one Host header");
  else if (writes || server_.api.auth_would_block(req))
    d = co_await server_.offload([&] { return server_.api.handle(req); });
  else d = server_.api.handle(req);
  Response response;
  std::uint64_t received = 0;
  bool unread_body = false;
  if (d.sink) {
    if (d.sink->holds_body_in_memory()) body_deadline_ = started + server_.options.buffered_body_timeout;
    auto answer = co_await answer_body(parser, req, d.sink, received, unread_body);
    body_deadline_ = Clock::time_point::max();
    if (!answer) co_return false;
    response = std::move(*answer);
  } else {
    response = std::move(d.response);
    unread_body = !parser.is_done();  // an unwanted body is not read
  }
  // (The rest of an unread body would be taken for the next request.)
  keep_alive = keep_alive && !unread_body && !server_.stopping;
  const std::uint64_t sent = req.method == "HEAD" ? 0 : response.content_length();
  const beast::error_code written = co_await write_response(response, req.method == "HEAD", keep_alive, version);

  if (server_.options.access_log && server_.log->should_log(spdlog::level::info)) {
    auto ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    access_log_.line("{} \"{} {}\" {} in={} out={} {:.1f}ms", remote_, req.method, req.target, response.status,
                     received, sent, ms);
  }
  if (written) {
    fail(written, "write response to " + req.method + " " + req.target);
    co_return false;
  }
  if (unread_body) co_await linger();
  co_return keep_alive;
}

// The answer to a request whose body goes to `sink`: the sink's once the body has arrived,
// or the one it stopped with (then `unread_body`), or a 400 for a malformed body; none when
// the body stopped arriving, which is logged with the request. The sink is finished and
// released on a worker (a commit hashes and syncs; an abandoned upload is removed).
net::awaitable<std::optional<Response>> Session::answer_body(HeaderParser& parser, const Request& req,
                                                             std::unique_ptr<BodySink>& sink, std::uint64_t& received,
                                                             bool& unread_body) {
  BodyEnd body = co_await read_body(parser, *sink, received);
  const bool complete = body.complete;
  std::optional<Response> answer = co_await server_.offload([&] {
    std::optional<Response> r = complete ? std::optional<Response>(sink->finish()) : std::nullopt;
    sink.reset();
    return r;
  });
  if (body.early) {
    unread_body = true;
    co_return std::move(body.early);
  }
  if (!complete) {
    // (Whatever the cause, an ordinary end or not, it ended a request: info, as the access line.)
    server_.log->info("{} {} {} aborted after {} bytes: {}", remote_, req.method, req.target, received,
                      cause(body.error));
    if (client_protocol_error(body.error) && socket_.is_open()) {
      unread_body = true;
      co_return error_response(400, "BAD_REQUEST", body.error.message());
    }
    co_return std::nullopt;
  }
  co_return answer;
}

// After answering before the whole body arrived (an error mid-upload), reads and drops what
// the client still sends, for a short while, before closing: closing with unread data
// would reset the connection, and the client could lose the answer that says what went wrong.
net::awaitable<void> Session::linger() {
  // What is dropped needs no buffer of its own: every lingering connection of this thread
  // reads into the same one (a refused manifest storm must not pin a body chunk each).
  thread_local char discard[16 * 1024];
  release_buffers();
  beast::error_code ec;
  if (tls_) tls_->notify_close();
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  const auto until = Clock::now() + kLinger;
  arm(std::chrono::duration_cast<std::chrono::seconds>(kLinger));
  // (It ends with an error by design: the client's close, or the watchdog's.)
  while (!ec && Clock::now() < until)
    co_await socket_.async_read_some(net::buffer(discard), redirect(ec));
}

net::awaitable<Session::BodyEnd> Session::read_body(HeaderParser& header_parser, BodySink& sink,
                                                    std::uint64_t& received) {
  if (beast::iequals(header_parser.get()[http::field::expect], "100-continue")) {
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    arm(server_.options.io_timeout);
    beast::error_code ec;
    if (tls_) co_await net::async_write(*tls_, net::buffer(kContinue, sizeof kContinue - 1), redirect(ec));
    else co_await net::async_write(socket_, net::buffer(kContinue, sizeof kContinue - 1), redirect(ec));
    if (ec) co_return BodyEnd{false, std::nullopt, ec};
  }
  if (header_parser.is_done()) co_return BodyEnd{true, std::nullopt, {}};
  chunk();
  if (!header_parser.chunked() && header_parser.content_length())
    co_return co_await read_sized_body(*header_parser.content_length(), sink, received);
  co_return co_await read_chunked_body(header_parser, sink, received);
}

// A body of known length goes straight from the socket into the sink: no parser, no copy
// through the header buffer, reads as large as the chunk.
net::awaitable<Session::BodyEnd> Session::read_sized_body(std::uint64_t left, BodySink& sink,
                                                          std::uint64_t& received) {
  // First what arrived with the header.
  auto buffered = buffer_.data();
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffered.size()));
  if (n > 0) {
    received += n;
    if (auto stop = sink.write(static_cast<const char*>(buffered.data()), n)) co_return BodyEnd{false, std::move(stop), {}};
    buffer_.consume(n);
    left -= n;
  }
  beast::error_code ec;
  while (left > 0) {
    arm(server_.options.io_timeout);
    // Into the sink's own buffer when it has one (an upload's disk buffer): one copy less.
    std::span<char> into = sink.buffer();
    if (into.empty()) into = {chunk_.get(), kBodyChunk};
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, into.size()));
    if (tls_) n = co_await tls_->async_read_some(net::buffer(into.data(), want), redirect(ec));
    else n = co_await socket_.async_read_some(net::buffer(into.data(), want), redirect(ec));
    if (n > 0) {
      received += n;
      left -= n;
      if (auto stop = sink.write(into.data(), n)) co_return BodyEnd{false, std::move(stop), {}};
    }
    if (ec) co_return BodyEnd{false, std::nullopt, ec};
  }
  co_return BodyEnd{true, std::nullopt, {}};
}

// Chunked transfer encoding: Beast's parser removes the framing.
net::awaitable<Session::BodyEnd> Session::read_chunked_body(HeaderParser& header_parser, BodySink& sink,
                                                            std::uint64_t& received) {
  buffer_.reserve(64 * 1024);
  http::request_parser<http::buffer_body> parser(std::move(header_parser));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::error_code ec;
  while (!parser.is_done()) {
    auto& body = parser.get().body();
    body.data = chunk_.get();
    body.size = kBodyChunk;
    arm(server_.options.io_timeout);
    if (tls_) co_await http::async_read_some(*tls_, buffer_, parser, redirect(ec));
    else co_await http::async_read_some(socket_, buffer_, parser, redirect(ec));
    if (ec == http::error::need_buffer) ec = {};
    std::size_t n = kBodyChunk - body.size;
    if (n > 0) {
      received += n;
      if (auto stop = sink.write(chunk_.get(), n)) co_return BodyEnd{false, std::move(stop), {}};
    }
    if (ec) co_return BodyEnd{false, std::nullopt, ec};
  }
  co_return BodyEnd{true, std::nullopt, {}};
}

// Writes the head and the body (from memory, by sendfile, or copied from a reader); the
// error of the step that failed, if one did.
net::awaitable<beast::error_code> Session::write_response(Response& r, bool head, bool keep_alive, unsigned version) {
  const bool body = !(head || r.status == 204 || r.status == 304);
  serialize_head(r, keep_alive, version);
  beast::error_code ec;
  arm(server_.options.io_timeout);
  if (body && !r.file) {
    // Small bodies (manifests, listings, errors) leave with the header in one write.
    std::array<net::const_buffer, 2> both{net::buffer(head_), net::buffer(r.body)};
    if (tls_) co_await net::async_write(*tls_, both, redirect(ec));
    else co_await net::async_write(socket_, both, redirect(ec));
    co_return ec;
  }
  // A file response is corked so that the header and the first pages share packets.
  Cork cork(socket_.native_handle(), body && r.file);
  if (tls_) co_await net::async_write(*tls_, net::buffer(head_), redirect(ec));
  else co_await net::async_write(socket_, net::buffer(head_), redirect(ec));
  if (ec || !body) co_return ec;
  if (int fd = r.file->native_handle(); fd >= 0 && tls_) co_return co_await send_file_tls(fd, r.file_offset, r.file_length);
  if (int fd = r.file->native_handle(); fd >= 0) co_return co_await send_file(fd, r.file_offset, r.file_length);
  co_return co_await copy_file(*r.file, r.file_offset, r.file_length);
}

// A driver without file descriptors: the file is copied through a buffer.
net::awaitable<beast::error_code> Session::copy_file(FileReader& file, std::uint64_t offset, std::uint64_t left) {
  chunk();
  beast::error_code ec;
  // Readers without descriptors start at 0: skip to the offset.
  std::uint64_t skip = offset;
  while (left > 0) {
    auto n = file.read(chunk_.get(), kBodyChunk);
    if (!n || *n == 0) {
      failure_detail_ = n ? "the file is shorter than it was" : n.error().message;
      co_return make_error_code(beast::errc::io_error);
    }
    std::size_t use = *n, from = 0;
    if (skip) {
      std::size_t s = static_cast<std::size_t>(std::min<std::uint64_t>(skip, use));
      skip -= s;
      from = s;
      use -= s;
    }
    use = static_cast<std::size_t>(std::min<std::uint64_t>(use, left));
    if (!use) continue;
    arm(server_.options.io_timeout);
    if (tls_) co_await net::async_write(*tls_, net::buffer(chunk_.get() + from, use), redirect(ec));
    else co_await net::async_write(socket_, net::buffer(chunk_.get() + from, use), redirect(ec));
    if (ec) co_return ec;
    left -= use;
  }
  co_return ec;
}

// The status line and header fields, written by hand into a buffer the connection keeps:
// cheaper than a Beast message with a node per field, and the same bytes.
void Session::serialize_head(const Response& r, bool keep_alive, unsigned version) {
  // Answering in the request's version makes keep-alive explicit for HTTP/1.0 clients.
  const bool http10 = version == 10;
  const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
  head_.clear();
  fmt::format_to(std::back_inserter(head_), "HTTP/1.{} {} {}\r\n", http10 ? 0 : 1, r.status,
                 std::string_view(reason.data(), reason.size()));
  auto field = [this](std::string_view name, std::string_view value) {
    head_.append(name);
    head_.append(": ");
    // A value never ends the line early (CR or LF from a client cannot add fields).
    for (char c : value) head_.push_back(c == '\r' || c == '\n' ? ' ' : c);
    head_.append("\r\n");
  };
  for (const auto& h : r.headers) field(h.name, h.value);
  field("Docker-Distribution-API-Version", "registry/2.0");
  if (http10 && keep_alive) field("Connection", "keep-alive");
  if (!http10 && !keep_alive) field("Connection", "close");
  if (r.status != 204 && r.status != 304) {
    char length[24];
    auto end = fmt::format_to(length, "{}", r.content_length());
    field("Content-Length", std::string_view(length, static_cast<std::size_t>(end - length)));
  }
  head_.append("\r\n");
}

// Zero-copy download: the kernel moves page-cache pages to the socket.
net::awaitable<beast::error_code> Session::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  beast::error_code ec;
  socket_.native_non_blocking(true, ec);
  if (ec) co_return ec;
  off_t off = static_cast<off_t>(offset);
  while (length > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, 1u << 30));
    ssize_t n = ::sendfile(socket_.native_handle(), fd, &off, want);
    if (n > 0) {
      length -= static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) {
      failure_detail_ = "the file is shorter than it was";
      co_return make_error_code(beast::errc::io_error);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return beast::error_code(errno, beast::system_category());
    arm(server_.options.io_timeout);
    co_await socket_.async_wait(tcp::socket::wait_write, redirect(ec));
    if (ec) co_return ec;
  }
  co_return ec;
}

// A download over TLS: by the kernel's sendfile where kernel TLS took the connection over,
// otherwise read in large pieces and encrypted here (one SSL_write, 16 records, a piece).
net::awaitable<beast::error_code> Session::send_file_tls(int fd, std::uint64_t offset, std::uint64_t length) {
  beast::error_code ec;
  const bool kernel = tls_->kernel_send();
  if (!kernel) chunk();
  while (length > 0) {
    arm(server_.options.io_timeout);
    std::size_t n = 0;
    if (kernel) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, 1u << 30));
      n = co_await tls_->async_sendfile(fd, offset, want, redirect(ec));
      if (ec) co_return ec;
    } else {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, kBodyChunk));
      const ssize_t got = ::pread(fd, chunk_.get(), want, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        failure_detail_ = std::string("read the file: ") + std::strerror(errno);
        co_return make_error_code(beast::errc::io_error);
      }
      n = static_cast<std::size_t>(got);
      if (n > 0) co_await net::async_write(*tls_, net::buffer(chunk_.get(), n), redirect(ec));
      if (ec) co_return ec;
    }
    if (n == 0) {
      failure_detail_ = "the file is shorter than it was";
      co_return make_error_code(beast::errc::io_error);
    }
    offset += n;
    length -= n;
  }
  co_return ec;
}

template <class Work>
net::awaitable<std::invoke_result_t<Work&>> Server::Impl::offload(Work work) {
  using Result = std::invoke_result_t<Work&>;
  std::optional<Result> result;
  std::exception_ptr error;
  co_await net::async_initiate<decltype(net::use_awaitable), void()>(
      [&](auto resume) {
        net::post(workers, [&, resume = std::move(resume)]() mutable {
          // Below the I/O threads: a commit hashing a GiB must not delay small requests
          // for a time slice each (when nothing else runs, it still has the whole CPU).
          thread_local const bool lowered = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kWorkerNice) == 0;
          (void)lowered;
          try {
            result.emplace(work());
          } catch (...) {
            error = std::current_exception();
          }
          auto home = net::get_associated_executor(resume);
          net::post(home, std::move(resume));
        });
      },
      net::use_awaitable);
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

std::optional<std::string> Server::Impl::admit(const std::shared_ptr<Session>& session) {
  std::shared_ptr<Session> evict;
  {
    std::lock_guard lock(sessions_mutex);
    const std::string& client = session->remote();
    const bool client_full = per_client[client] >= options.max_connections_per_client;
    if (client_full || sessions.size() >= options.max_connections) {
      // Full: the connection that has waited longest for a request makes room (one of the
      // client's own when it is the client that has too many).
      Session* oldest = nullptr;
      Clock::rep oldest_since = 0;
      for (auto& [ptr, weak] : sessions) {
        Clock::rep since = ptr->idle_since();
        if (since == 0 || (client_full && ptr->remote() != client)) continue;
        if (!oldest || since < oldest_since) {
          oldest = ptr;
          oldest_since = since;
        }
      }
      if (!oldest || !oldest->claim_idle(oldest_since)) {
        if (per_client[client] == 0) per_client.erase(client);
        return client_full ? "too many connections from " + client : std::string("too many connections");
      }
      evict = sessions[oldest].lock();
    }
    ++per_client[client];
    sessions[session.get()] = session;
    session->set_admitted();
  }
  if (evict) {
    log->debug("{}: closing the longest-idle connection to make room", evict->remote());
    evict->close_from_any_thread(true);
  }
  return std::nullopt;
}

net::awaitable<void> Server::Impl::accept_loop() {
  while (!stopping) {
    beast::error_code ec;
    const std::size_t context = next_context();
    tcp::socket socket = co_await acceptor.async_accept(contexts[context]->get_executor(), redirect(ec));
    if (ec) {
      if (stopping || ec == net::error::operation_aborted) co_return;
      log->warn("accept: {}", ec.message());
      if (ec == net::error::no_descriptors) {
        // Out of file descriptors: let in-flight requests finish before accepting again.
        net::steady_timer pause(main_context(), std::chrono::milliseconds(100));
        co_await pause.async_wait(redirect(ec));
      }
      continue;
    }
    auto peer = socket.remote_endpoint(ec);
    if (ec) continue;  // already gone
    socket.set_option(tcp::no_delay(true), ec);
    // The context current now; a reload after this does not concern this connection.
    SSL* ssl = tls ? SSL_new(tls->current().get()) : nullptr;
    if (tls && !ssl) {
      log->warn("{}: no TLS session could be made (out of memory?): connection closed", peer.address().to_string());
      continue;
    }
    auto session =
        std::make_shared<Session>(*this, std::move(socket), *access_logs[context], peer.address().to_string(), ssl);
    if (auto refused = admit(session)) {
      // Logged once per interval with a count: a flood of connections is not a flood of lines.
      ++refused_since_log;
      if (auto now = Clock::now(); now - last_refusal_log >= kRefusalLogInterval) {
        log->warn("{} connection(s) refused, the last from {}: {}", refused_since_log, session->remote(), *refused);
        refused_since_log = 0;
        last_refusal_log = now;
      }
      session->refuse(*refused);
      continue;
    }
    session->start();
  }
}

void Server::Impl::begin_shutdown() {
  if (stopping.exchange(true)) return;
  log->info("shutting down: no new connections, finishing requests in flight (up to {}s)",
            options.shutdown_grace.count());
  if (on_stopping) on_stopping();
  beast::error_code ec;
  acceptor.close(ec);
  if (signals) signals->cancel(ec);
  if (reload_signals) reload_signals->cancel(ec);
  // Threads end once their connections have: nothing keeps an idle context running now.
  for (auto& g : guards) g.reset();
  close_sessions(true);
  grace_timer.expires_after(options.shutdown_grace);
  grace_timer.async_wait([this](beast::error_code e) {
    if (!e) {
      log->warn("shutdown grace period over: closing remaining connections");
      close_sessions(false);
    }
  });
  session_ended(nullptr, {});
}

void Server::Impl::await_reload() {
  reload_signals->async_wait([this](beast::error_code ec, int) {
    if (ec || stopping) return;
    reload();
    await_reload();
  });
}

// SIGHUP: the certificate and key (and client CAs) are read again for new connections.
void Server::Impl::reload() {
  if (!tls) {
    log->info("SIGHUP: nothing to reload without TLS (the htpasswd file is re-read when it changes)");
    return;
  }
  auto described = tls->reload();
  if (!described) {
    log->error("SIGHUP: TLS not reloaded, still serving {}: {}", tls->describe(), described.error().message);
    return;
  }
  log->info("SIGHUP: TLS reloaded: new connections get {}", *described);
  if (auto problem = tls->validity_problem(); !problem.empty()) log->warn("TLS: {}", problem);
}

void Server::Impl::close_sessions(bool idle_only) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mutex);
    for (auto& [ptr, weak] : sessions)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close_from_any_thread(idle_only);
}

void Server::Impl::session_ended(Session* s, const std::string& client) {
  std::lock_guard lock(sessions_mutex);
  if (s) {
    sessions.erase(s);
    if (auto it = per_client.find(client); it != per_client.end() && --it->second == 0) per_client.erase(it);
  }
  if (stopping && sessions.empty()) net::post(main_context(), [this] { grace_timer.cancel(); });
}

std::uint64_t fit_open_files(ServerOptions& options) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised{limit.rlim_max, limit.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  const std::uint64_t soft = limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : limit.rlim_cur;
  // Each connection: its socket, and one file it reads or writes.
  const std::uint64_t fit = soft > kReservedFiles + 2 ? (soft - kReservedFiles) / 2 : 1;
  if (options.max_connections > fit) {
    rs::log::get("registry")->warn(
        "limits.max_connections {} lowered to {}: the open-file limit is {} (a connection may use two; raise "
        "LimitNOFILE= or ulimit -n)",
        options.max_connections, fit, soft);
    options.max_connections = static_cast<std::size_t>(fit);
  }
  options.max_connections_per_client = std::min(options.max_connections_per_client, options.max_connections);
  return soft;
}

Server::Server(const Api& api, ServerOptions options) : impl_(std::make_unique<Impl>(api, std::move(options))) {}
Server::~Server() = default;

Result<std::uint16_t> Server::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.address, ec);
  if (ec) return make_error(Errc::invalid_argument, "listen address '" + impl_->options.address + "': " + ec.message());
  tcp::endpoint endpoint{address, impl_->options.port};
  auto& acc = impl_->acceptor;
  std::string where = "listen on " + impl_->options.address + ":" + std::to_string(impl_->options.port);
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::unavailable, where + ": " + ec.message());
  return acc.local_endpoint().port();
}

void Server::run(bool handle_signals, std::function<void()> on_stopping) {
  Impl& impl = *impl_;
  impl.on_stopping = std::move(on_stopping);
  if (handle_signals) {
    impl.signals = std::make_unique<net::signal_set>(impl.main_context(), SIGTERM, SIGINT);
    impl.signals->async_wait([&impl](beast::error_code ec, int) {
      if (!ec) impl.begin_shutdown();
    });
    impl.reload_signals = std::make_unique<net::signal_set>(impl.main_context(), SIGHUP);
    impl.await_reload();
  }
  net::co_spawn(impl.main_context(), impl.accept_loop(), net::detached);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl.contexts.size(); ++i)
    threads.emplace_back([&context = *impl.contexts[i]] { context.run(); });
  impl.main_context().run();
  for (auto& t : threads) t.join();
}

void Server::use_tls(TlsContexts& tls) { impl_->tls = &tls; }

void Server::stop() {
  net::post(impl_->main_context(), [this] { impl_->begin_shutdown(); });
}

}  // namespace rs::registry
