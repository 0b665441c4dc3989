#include "core/random.hpp"

#include <sys/random.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <random>
#include <vector>

namespace rs {

void random_bytes(void* out, std::size_t size) {
  auto* p = static_cast<unsigned char*>(out);
  while (size > 0) {
    ssize_t n = ::getrandom(p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    // Only without getrandom (a kernel before 3.17, a seccomp filter): the C++ library's
    // device reads /dev/urandom or the CPU's generator.
    if (n <= 0) {
      try {
        std::random_device device;
        for (; size > 0; --size) *p++ = static_cast<unsigned char>(device());
      } catch (const std::exception&) {
        // No source at all: distinct, not secret (a clock and a counter).
        static std::atomic<unsigned long> counter{0};
        std::seed_seq seq{static_cast<unsigned long>(std::chrono::steady_clock::now().time_since_epoch().count()),
                          counter++};
        std::mt19937_64 fallback(seq);
        for (; size > 0; --size) *p++ = static_cast<unsigned char>(fallback());
      }
      return;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

std::string random_hex(std::size_t bytes) {
  static const char* digits = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  random_bytes(raw.data(), raw.size());
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : raw) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

}  // namespace rs
