#include "observability/trace.h"

#include "mcpgw/hex.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>

namespace mcpgw::trace {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

}  // namespace

std::optional<context> parse_traceparent(std::string_view text) {
  // Surrounding spaces and tabs are allowed in header values.
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  if (text.size() < traceparent_size) {
    return std::nullopt;
  }
  std::string_view version = text.substr(0, 2);
  if (!lower_hex(version) || version == "ff" || text[2] != '-' || text[35] != '-' ||
      text[52] != '-') {
    return std::nullopt;
  }
  // Version 00 is exactly 55 characters; a later version may append fields after a '-'.
  if ((version == "00" && text.size() != traceparent_size) ||
      (text.size() > traceparent_size && text[traceparent_size] != '-')) {
    return std::nullopt;
  }
  std::string_view trace_id = text.substr(3, 32);
  std::string_view parent = text.substr(36, 16);
  std::string_view flags = text.substr(53, 2);
  if (!lower_hex(trace_id) || !lower_hex(parent) || !lower_hex(flags) || all_zero(trace_id) ||
      all_zero(parent)) {
    return std::nullopt;
  }
  context out;
  std::copy(trace_id.begin(), trace_id.end(), out.trace_id.begin());
  std::copy(parent.begin(), parent.end(), out.span_id.begin());
  out.flags = static_cast<std::uint8_t>(hex_value(flags[0]) * 16 + hex_value(flags[1]));
  return out;
}

std::optional<context> incoming(std::string_view meta_raw, std::string_view header) {
  if (meta_raw.size() >= 2) {
    if (auto from_meta = parse_traceparent(meta_raw.substr(1, meta_raw.size() - 2))) {
      return from_meta;
    }
  }
  return header.empty() ? std::nullopt : parse_traceparent(header);
}

bool valid_request_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

bool valid_tracestate(std::string_view text) {
  return text.size() <= max_tracestate &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

id_source::id_source() {
  std::random_device os;
  state_ = (std::uint64_t{os()} << 32) ^ os();
}

std::uint64_t id_source::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void id_source::fill(char* out, std::size_t digits) {
  // Sixteen digits from each 64-bit draw, two from each of its bytes.
  for (std::size_t at = 0; at < digits; at += 16) {
    std::array<unsigned char, 8> bits;
    const std::uint64_t draw = next();
    std::memcpy(bits.data(), &draw, bits.size());
    const std::size_t bytes = std::min<std::size_t>(8, (digits - at + 1) / 2);
    char pair_digits[16];
    hex::write(pair_digits, bits.data(), bytes);
    std::memcpy(out + at, pair_digits, std::min<std::size_t>(16, digits - at));
  }
}

context id_source::new_trace() {
  context out;
  do {
    fill(out.trace_id.data(), out.trace_id.size());
  } while (all_zero(out.trace()));
  return out;
}

std::array<char, 16> id_source::new_span() {
  std::array<char, 16> out{};
  do {
    fill(out.data(), out.size());
  } while (all_zero({out.data(), out.size()}));
  return out;
}

std::array<char, traceparent_size> format(const context& trace, const std::array<char, 16>& span) {
  std::array<char, traceparent_size> out{};
  auto at = out.begin();
  at = std::copy_n("00-", 3, at);
  at = std::copy(trace.trace_id.begin(), trace.trace_id.end(), at);
  *at++ = '-';
  at = std::copy(span.begin(), span.end(), at);
  *at++ = '-';
  *at++ = hex_digits[trace.flags >> 4];
  *at = hex_digits[trace.flags & 0xf];
  return out;
}

}  // namespace mcpgw::trace
