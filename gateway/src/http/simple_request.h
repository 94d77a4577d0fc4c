// The common client request, parsed without Beast's parser: HTTP/1.1, CRLF line ends, token
// field names, and either no body or a Content-Length body, all of it already read. That is
// nearly every MCP POST, and this costs a fraction of Beast's field-by-field parse (which
// re-scans each line and looks every name up in its table). Anything outside that subset is
// declined, untouched, and Beast's parser reads it from the start: Beast stays the authority on
// what is wrong with a request (the 400, 413 and 431 answers), on Transfer-Encoding, Expect,
// HTTP/1.0, obs-fold and the rest.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mcpgw {

namespace http = boost::beast::http;

enum class simple_parse : std::uint8_t {
  parsed,    // `req` holds the request; `used` bytes of the input were it
  declined,  // not in the subset (or not all read yet): `req` is untouched, Beast parses it
};

struct simple_request_limits {
  std::size_t max_header = 0;  // as Beast's header_limit: the request line and fields
  std::uint64_t max_body = 0;  // as Beast's body_limit
};

// Parses the request at the start of `data` into `req` (which must be empty).
simple_parse parse_simple_request(std::string_view data, const simple_request_limits& limits,
                                  http::request<http::string_body>& req, std::size_t& used);

}  // namespace mcpgw
