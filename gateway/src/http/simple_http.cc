#include "http/simple_http.h"

#include "mcpgw/http_headers.h"

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

// Past the request target: visible ASCII, no obs-text (Beast takes what it allows).
const char* skip_target(const char* p, const char* end) {
  while (p != end && static_cast<unsigned char>(*p) > 0x20 &&
         static_cast<unsigned char>(*p) < 0x7f) {
    ++p;
  }
  return p;
}

// More fields than this are left to Beast (no browser, SDK or server sends that many).
constexpr std::size_t max_fields = 48;

// What the field lines said about framing.
struct framing {
  std::uint64_t content_length = 0;
  bool has_length = false;
};

// The field lines from `p` through the blank line; each field goes to `on_field(name,
// value)`. Returns the position after the blank line, or nullptr when the head is not in the
// subset: not all read before `end`, obs-fold, a space before a colon, a control byte, too
// many fields, Transfer-Encoding, Expect, or a Content-Length that is repeated or not digits.
template <typename OnField>
const char* parse_fields(const char* p, const char* end, framing& frame, OnField&& on_field) {
  std::size_t count = 0;
  while (true) {
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      return p + 2;  // the blank line
    }
    const char* const name_begin = p;
    p = skip_token(p, end);
    if (p == name_begin || p == end || *p != ':' || ++count > max_fields) {
      return nullptr;
    }
    const std::string_view name(name_begin, static_cast<std::size_t>(p - name_begin));
    ++p;
    while (p != end && is_ows(*p)) {
      ++p;
    }
    const char* const value_begin = p;
    p = skip_value(p, end);
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
      return nullptr;
    }
    const char* value_end = p;
    while (value_end > value_begin && is_ows(value_end[-1])) {
      --value_end;
    }
    const std::string_view value(value_begin, static_cast<std::size_t>(value_end - value_begin));
    p += 2;
    if (name_is(name, "transfer-encoding") || name_is(name, "expect")) {
      return nullptr;
    }
    if (name_is(name, "content-length")) {
      if (frame.has_length || value.empty() || value.size() > 18) {
        return nullptr;
      }
      for (char c : value) {
        if (c < '0' || c > '9') {
          return nullptr;
        }
        frame.content_length = frame.content_length * 10 + static_cast<std::uint64_t>(c - '0');
      }
      frame.has_length = true;
    }
    if (!on_field(name, value)) {
      return nullptr;
    }
  }
}

}  // namespace

simple_parse parse_simple_request(std::string_view data, const simple_request_limits& limits,
                                  client_request& req, std::size_t& used) {
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
  p = skip_target(p, end);
  const std::string_view target(target_begin, static_cast<std::size_t>(p - target_begin));
  constexpr std::string_view version = " HTTP/1.1\r\n";
  if (target.empty() ||
      std::string_view(p, static_cast<std::size_t>(end - p)).substr(0, version.size()) != version) {
    return simple_parse::declined;
  }
  p += version.size();

  framing frame;
  std::array<client_request::field_view, max_fields> fields;
  std::size_t count = 0;
  p = parse_fields(p, end, frame, [&](std::string_view name, std::string_view value) {
    fields[count++] = {name, value};  // parse_fields stops at max_fields
    return true;
  });
  const std::size_t head_size = p == nullptr ? 0 : static_cast<std::size_t>(p - begin);
  if (p == nullptr ||
      (frame.content_length != 0 && frame.content_length >= limits.max_body) ||  // Beast: 413
      data.size() - head_size < frame.content_length) {  // the body is still coming
    return simple_parse::declined;
  }
  req.assign(data.substr(0, head_size), method, target, 11,
             std::span<const client_request::field_view>(fields.data(), count));
  req.body().assign(data.substr(head_size, static_cast<std::size_t>(frame.content_length)));
  used = head_size + static_cast<std::size_t>(frame.content_length);
  return simple_parse::parsed;
}

simple_parse parse_simple_response(std::string_view data, std::uint64_t max_body,
                                   simple_response& out, std::size_t& used) {
  constexpr std::string_view version = "HTTP/1.1 ";
  const char* const begin = data.data();
  const char* const end = begin + std::min<std::size_t>(data.size(), simple_response::max_head);
  // "HTTP/1.1 200 OK\r\n": a status with a body (no 1xx, 204 or 304), any reason phrase.
  if (data.size() < version.size() + 4 || data.substr(0, version.size()) != version) {
    return simple_parse::declined;
  }
  const char* p = begin + version.size();
  unsigned status = 0;
  for (int i = 0; i < 3; ++i, ++p) {
    if (*p < '0' || *p > '9') {
      return simple_parse::declined;
    }
    status = status * 10 + static_cast<unsigned>(*p - '0');
  }
  if (*p != ' ' || status < 200 || status > 599 || status == 204 || status == 304) {
    return simple_parse::declined;
  }
  p = skip_value(p, end);
  if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
    return simple_parse::declined;
  }
  p += 2;
  framing frame;
  std::size_t count = 0;
  int keep_alive = 1;  // HTTP/1.1: unless "Connection: close"; -1: a value left to Beast
  p = parse_fields(p, end, frame, [&](std::string_view name, std::string_view value) {
    if (name_is(name, "connection")) {
      keep_alive = name_is(value, "keep-alive") ? keep_alive : name_is(value, "close") ? 0 : -1;
    }
    if (count == out.fields.size()) {
      return false;
    }
    out.fields[count++] = {name, value};
    return keep_alive >= 0;
  });
  const std::size_t head_size = p == nullptr ? 0 : static_cast<std::size_t>(p - begin);
  if (p == nullptr || !frame.has_length ||               // a body to the close is Beast's
      frame.content_length > max_body ||                 // the exchange fails it as too large
      data.size() - head_size < frame.content_length) {  // the body is still coming
    return simple_parse::declined;
  }
  // The fields are views into the head: moved into `out` with it.
  out.head.assign(data.substr(0, head_size));
  for (std::size_t i = 0; i < count; ++i) {
    auto& [name, value] = out.fields[i];
    name = std::string_view(out.head).substr(static_cast<std::size_t>(name.data() - begin),
                                             name.size());
    value = std::string_view(out.head).substr(static_cast<std::size_t>(value.data() - begin),
                                              value.size());
  }
  out.field_count = count;
  out.status = status;
  out.keep_alive = keep_alive == 1;
  out.body.assign(data.substr(head_size, static_cast<std::size_t>(frame.content_length)));
  used = head_size + static_cast<std::size_t>(frame.content_length);
  return simple_parse::parsed;
}

std::string_view simple_response::field(std::string_view name) const {
  for (std::size_t i = 0; i < field_count; ++i) {
    const auto& [n, v] = fields[i];
    if (n.size() == name.size() && http_headers::iequals(n, name)) {
      return v;
    }
  }
  return {};
}

}  // namespace mcpgw
