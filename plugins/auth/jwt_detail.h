// Helpers shared by jwks.cc and jwt.cc: OpenSSL ownership and error-queue hygiene, strict JSON
// objects, log-safe quoting. Internal to plugins/auth; include it only from those two files.
#pragma once

#include <openssl/bn.h>
#include <openssl/err.h>
#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::auth::jwt_detail {

template <auto Free>
struct free_with {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using bn_ptr = std::unique_ptr<BIGNUM, free_with<BN_free>>;

// Failed OpenSSL calls leave entries on the thread's error queue; Asio's TLS streams read that
// queue after their own calls, so our rejections must not linger there and be misattributed.
class openssl_error_scope {
 public:
  openssl_error_scope() { ERR_set_mark(); }
  ~openssl_error_scope() { ERR_pop_to_mark(); }
  openssl_error_scope(const openssl_error_scope&) = delete;
  openssl_error_scope& operator=(const openssl_error_scope&) = delete;
};

inline const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// ---- details that end up in logs ---------------------------------------------------------

// Claim and header values come from the token: quote them short and printable so that a
// crafted value can neither flood nor forge log lines.
inline std::string log_quote(std::string_view value) {
  constexpr std::size_t max_chars = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < value.size() && i < max_chars; ++i) {
    char c = value[i];
    out += (c >= 0x20 && c < 0x7f && c != '\'') ? c : '?';
  }
  if (value.size() > max_chars) {
    out += "...";
  }
  out += "'";
  return out;
}

// ---- JSON helpers ------------------------------------------------------------------------

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

enum class member_status { absent, present, wrong_type };

inline member_status string_member(object obj, std::string_view name, std::string_view& out) {
  element value;
  if (obj.at_key(name).get(value) != simdjson::SUCCESS) {
    return member_status::absent;
  }
  return value.get(out) == simdjson::SUCCESS ? member_status::present : member_status::wrong_type;
}

// RFC 7515 §5.2 and RFC 7519 §4: a JWT with duplicate member names must be rejected (or the last
// one used); rejecting avoids disagreeing with another parser about which value counts.
inline std::optional<std::string_view> duplicate_member(object obj) {
  std::vector<std::string_view> names;
  for (auto field : obj) {
    names.push_back(field.key);
  }
  std::sort(names.begin(), names.end());
  auto it = std::adjacent_find(names.begin(), names.end());
  if (it == names.end()) {
    return std::nullopt;
  }
  return *it;
}

// Parses `text` as a JSON object; on failure returns why (prefixed by `part`).
inline std::string parse_object(simdjson::dom::parser& parser, std::string_view text,
                                std::string_view part, object& out) {
  simdjson::padded_string padded(text.data(), text.size());
  element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
    return std::string(part) + ": not JSON";
  }
  if (root.get(out) != simdjson::SUCCESS) {
    return std::string(part) + ": not a JSON object";
  }
  if (auto name = duplicate_member(out)) {
    return std::string(part) + ": duplicate member " + log_quote(*name);
  }
  return {};
}

}  // namespace mcpgw::auth::jwt_detail
