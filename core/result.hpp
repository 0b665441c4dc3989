// Errors as values: expected failures travel as Result<T>; bugs are asserts.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace rs {

enum class Errc {
  invalid_argument,  // the caller's input is wrong
  not_found,
  already_exists,
  permission_denied,
  io,           // the OS refused a read or write
  unsupported,
  conflict,     // the state does not allow this now
  timeout,
  unavailable,  // a peer (daemon, host, bus) could not be reached
  exhausted,    // a limit was reached (open files, memory, a configured budget): try later
  internal,
};

const char* to_string(Errc code);

struct Error {
  Errc code = Errc::internal;
  std::string message;

  // Prefixes context, as in "restart 'docker.service': Unit not found".
  Error with_context(const std::string& context) const {
    return Error{code, context + ": " + message};
  }
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

// Builds an Error from errno, e.g. errno_error("open '/etc/x'").
Error errno_error(const std::string& what, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace rs
