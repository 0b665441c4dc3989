// Unpredictable bytes from the kernel's CSPRNG (getrandom): for ids a client must not be
// able to guess from the ones it saw, and for names that must not collide.
#pragma once

#include <cstddef>
#include <string>

namespace rs {

// Fills `size` bytes; blocks only before the kernel's pool is first initialized at boot.
void random_bytes(void* out, std::size_t size);

// 2 * `bytes` lowercase hex digits.
std::string random_hex(std::size_t bytes);

}  // namespace rs
