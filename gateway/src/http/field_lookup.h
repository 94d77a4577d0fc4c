// Header look-up by a walk over the fields in arrival order. Beast's own find() searches its
// case-insensitive tree, comparing names character by character through tolower at every
// node: with the dozen look-ups a request needs, that was the gateway's most expensive single
// function. A message has a handful of fields, and a known field compares as an enum.
#pragma once

#include "mcpgw/http_headers.h"

#include <boost/beast/http/field.hpp>

#include <string_view>

namespace mcpgw::http_lookup {

// The first value of field `f`, "" when absent.
template <typename Fields>
std::string_view value_of(const Fields& fields, boost::beast::http::field f) {
  for (const auto& e : fields) {
    if (e.name() == f) {
      return e.value();
    }
  }
  return {};
}

// The first value of the field named `name` (any case), "" when absent.
template <typename Fields>
std::string_view value_of(const Fields& fields, std::string_view name) {
  for (const auto& e : fields) {
    const std::string_view n = e.name_string();
    if (n.size() == name.size() && http_headers::iequals(n, name)) {
      return e.value();
    }
  }
  return {};
}

}  // namespace mcpgw::http_lookup
