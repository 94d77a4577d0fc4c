#include "http/simple_request.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace mcpgw {
namespace {

// RFC 9110 token characters (method, field name).
constexpr std::array<bool, 256> token_chars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) {
    table[c] = true;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    table[c] = true;
    table[c - 'a' + 'A'] = true;
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}();

// Past the field value starting at `p`: VCHAR, SP, HTAB and obs-text. It stops at the first
// other control byte (the CR that ends the line, or a bare CR or LF, or worse) or at `end`.
// Eight bytes at a time while a word has no byte below 0x20 and none 0x7f (the test flags no
// byte of 0x80 or above).
const char* skip_value(const char* p, const char* end) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    const std::uint64_t del = word ^ (ones * 0x7f);
    if ((((word - ones * 0x20) & ~word) | ((del - ones) & ~del)) & highs) {
      break;
    }
    p += 8;
  }
  for (; p < end; ++p) {
    const auto u = static_cast<unsigned char>(*p);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      break;
    }
  }
  return p;
}

const char* skip_token(const char* p, const char* end) {
  while (p < end && token_chars[static_cast<unsigned char>(*p)]) {
    ++p;
  }
  return p;
}

// `name` equals `lower` (lowercase letters and '-') ignoring case.
bool name_is(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if ((name[i] | 0x20) != lower[i]) {  // '-' is 0x2d: | 0x20 leaves it
      return false;
    }
  }
  return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// More fields than this are left to Beast (no browser or SDK sends that many).
constexpr std::size_t max_fields = 48;

}  // namespace

simple_parse parse_simple_request(std::string_view data, const simple_request_limits& limits,
                                  http::request<http::string_body>& req, std::size_t& used) {
  // One pass over the head, which must end before the header limit (at it, or over it, Beast
  // answers 431 or accepts).
  const char* const begin = data.data();
  const char* const end =
      begin + std::min(data.size(), limits.max_header == 0 ? 0 : limits.max_header - 1);
  const char* p = skip_token(begin, end);
  if (p == begin || p == end || *p != ' ') {
    return simple_parse::declined;
  }
  const std::string_view method(begin, static_cast<std::size_t>(p - begin));
  const char* const target_begin = ++p;
  while (p<end&& static_cast<unsigned char>(*p)> 0x20 && static_cast<unsigned char>(*p) < 0x7f) {
    ++p;  // visible ASCII: no obs-text (Beast takes what it allows)
  }
  const std::string_view target(target_begin, static_cast<std::size_t>(p - target_begin));
  constexpr std::string_view version = " HTTP/1.1\r\n";
  if (target.empty() ||
      std::string_view(p, static_cast<std::size_t>(end - p)).substr(0, version.size()) != version) {
    return simple_parse::declined;
  }
  p += version.size();

  // Filled as it is read; a request declined on a later field leaves it emptied again.
  req.method_string(method);
  req.target(target);
  req.version(11);
  const auto decline = [&req] {
    req = {};
    return simple_parse::declined;
  };
  std::size_t count = 0;
  std::uint64_t content_length = 0;
  bool has_length = false;
  while (true) {
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      p += 2;  // the blank line
      break;
    }
    const char* const name_begin = p;
    p = skip_token(p, end);
    if (p == name_begin || p == end || *p != ':' || ++count > max_fields) {
      return decline();  // not all read, obs-fold, a space before the colon, ...
    }
    const std::string_view name(name_begin, static_cast<std::size_t>(p - name_begin));
    ++p;
    while (p < end && is_ows(*p)) {
      ++p;
    }
    const char* const value_begin = p;
    p = skip_value(p, end);
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
      return decline();  // not all read, a bare CR or LF, a control byte
    }
    const char* value_end = p;
    while (value_end > value_begin && is_ows(value_end[-1])) {
      --value_end;
    }
    const std::string_view value(value_begin, static_cast<std::size_t>(value_end - value_begin));
    p += 2;
    if (name_is(name, "transfer-encoding") || name_is(name, "expect")) {
      return decline();
    }
    if (name_is(name, "content-length")) {
      if (has_length || value.empty() || value.size() > 18) {
        return decline();
      }
      for (char c : value) {
        if (c < '0' || c > '9') {
          return decline();
        }
        content_length = content_length * 10 + static_cast<std::uint64_t>(c - '0');
      }
      has_length = true;
    }
    req.insert(name, value);
  }
  const std::size_t head_size = static_cast<std::size_t>(p - begin);
  if (content_length >= limits.max_body && content_length != 0) {
    return decline();  // at or over the limit: Beast answers 413 (or accepts)
  }
  if (data.size() - head_size < content_length) {
    return decline();  // the body is still coming: Beast reads it
  }
  req.body().assign(data.substr(head_size, static_cast<std::size_t>(content_length)));
  used = head_size + static_cast<std::size_t>(content_length);
  return simple_parse::parsed;
}

}  // namespace mcpgw
