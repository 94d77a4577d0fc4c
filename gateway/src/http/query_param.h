// One value of a request target's query string.
#pragma once

#include <string_view>

namespace mcpgw {

// The value of `name` in the request target's query string ("" when absent). Session ids are
// hex, so no percent-decoding is needed for a match; anything else simply matches nothing.
inline std::string_view query_param(std::string_view target, std::string_view name) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {};
  }
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
  }
  return {};
}

}  // namespace mcpgw
