// The common HTTP/1.1 message, parsed without Beast's parser: CRLF line ends, token field
// names, and no body or a Content-Length body, all of it already read. That is nearly every
// MCP POST and every JSON answer of a backend, and this costs a fraction of Beast's
// field-by-field parse (which re-scans each line and looks every name up in its table).
// Anything outside that subset is declined, untouched, and Beast's parser reads it from the
// start: Beast stays the authority on what is wrong with a message (the 400, 413 and 431
// answers, a backend's protocol errors), on Transfer-Encoding, Expect, HTTP/1.0, obs-fold and
// bodies that end with the connection.
#pragma once

#include "http/client_request.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace mcpgw {

namespace http = boost::beast::http;

enum class simple_parse : std::uint8_t {
  parsed,    // the message is read; `used` bytes of the input were it
  declined,  // not in the subset (or not all read yet): nothing is filled, Beast parses it
};

struct simple_request_limits {
  std::size_t max_header = 0;  // as Beast's header_limit: the request line and fields
  std::uint64_t max_body = 0;  // as Beast's body_limit
};

// Parses the request at the start of `data` into `req`; a declined request leaves `req` as it
// was.
simple_parse parse_simple_request(std::string_view data, const simple_request_limits& limits,
                                  client_request& req, std::size_t& used);

// A backend's answer: HTTP/1.1, a status with a body (not 1xx, 204 or 304), a Content-Length,
// and Connection absent, "keep-alive" or "close".
struct simple_response {
  simple_response() = default;
  simple_response(const simple_response&) = delete;
  simple_response& operator=(const simple_response&) = delete;
  static constexpr std::size_t max_head = 16 * 1024;  // a longer head is Beast's
  unsigned status = 0;
  bool keep_alive = false;
  std::string head;  // the status line and fields, as received
  // Views into `head`: a simple_response is filled where it stays (not copied or moved).
  std::array<std::pair<std::string_view, std::string_view>, 24> fields{};
  std::size_t field_count = 0;
  std::string body;
  // The value of the first field named `name` (any case); empty when there is none.
  std::string_view field(std::string_view name) const;
};

// Parses the response at the start of `data` into `out`. More than 24 fields, a head over
// max_head, or a body over `max_body`: declined.
simple_parse parse_simple_response(std::string_view data, std::uint64_t max_body,
                                   simple_response& out, std::size_t& used);

}  // namespace mcpgw
