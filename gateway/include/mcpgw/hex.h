// Lowercase hex of bytes, two digits a byte from one table look-up. Digests (SHA-256 of API
// keys and of audit records and arguments) and trace ids are written this way on every request.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>

namespace mcpgw::hex {

inline constexpr std::array<char, 512> pairs = [] {
  constexpr char digits[] = "0123456789abcdef";
  std::array<char, 512> table{};
  for (std::size_t b = 0; b < 256; ++b) {
    table[2 * b] = digits[b >> 4];
    table[2 * b + 1] = digits[b & 0xf];
  }
  return table;
}();

// The 2 * `size` digits of `bytes` at `out`; returns the end.
inline char* write(char* out, const unsigned char* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    std::memcpy(out + 2 * i, &pairs[2 * std::size_t{bytes[i]}], 2);
  }
  return out + 2 * size;
}

}  // namespace mcpgw::hex
