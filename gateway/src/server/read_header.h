// Reading a client's request header on a plain TCP connection without Beast's composed read
// and tcp_stream's per-read timer: reads on the socket, the parser fed in place. The server's
// deadline sweep (one timer for all connections) cancels a read whose deadline passed.
// Called by gateway_server::serve for every request that does not come through TLS.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace mcpgw {

namespace net = boost::asio;
namespace beast = boost::beast;

// Reads until `parser` has the whole header; bytes after it stay in `buffer`. The errors are
// Beast's: http::error::end_of_stream for a connection closed before a byte of the header,
// partial_message for one closed within it, header_limit, the parse errors, and
// beast::error::timeout when the read was cancelled because `expired` became true.
net::awaitable<boost::system::error_code> read_request_header(
    net::ip::tcp::socket& socket, beast::flat_buffer& buffer,
    beast::http::request_parser<beast::http::string_body>& parser, const bool& expired);

}  // namespace mcpgw
