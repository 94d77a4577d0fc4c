// Length-prefixed fields ("<size>:<bytes>"), the encoding of session records and of the
// principal forwarded between replicas: any byte may appear in a value.
#pragma once

#include <charconv>
#include <string>
#include <string_view>

namespace mcpgw::fields {

inline void put(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

// Takes the next field off `in`; false when `in` does not start with a whole one.
inline bool take(std::string_view& in, std::string& value) {
  const auto colon = in.find(':');
  std::size_t size = 0;
  if (colon == std::string_view::npos || colon == 0 ||
      std::from_chars(in.data(), in.data() + colon, size).ptr != in.data() + colon ||
      size > in.size() - colon - 1) {
    return false;
  }
  value.assign(in.substr(colon + 1, size));
  in.remove_prefix(colon + 1 + size);
  return true;
}

}  // namespace mcpgw::fields
