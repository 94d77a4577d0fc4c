#include "server/read_header.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>

namespace mcpgw {

namespace http = beast::http;

net::awaitable<boost::system::error_code> read_request_header(
    net::ip::tcp::socket& socket, beast::flat_buffer& buffer,
    http::request_parser<http::string_body>& parser, const bool& expired) {
  // The header alone: the body is read (or parsed from what is buffered) by the caller.
  parser.eager(false);
  while (true) {
    if (buffer.size() != 0) {
      boost::system::error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != http::error::need_more) {
        co_return ec;
      }
      if (parser.is_header_done()) {
        co_return boost::system::error_code{};
      }
    }
    // As Beast reads: up to 64 KiB at a time, within what the buffer may still hold.
    const std::size_t room = buffer.max_size() - buffer.size();
    if (room == 0) {
      co_return http::error::header_limit;
    }
    auto [ec, n] = co_await socket.async_read_some(buffer.prepare(std::min<std::size_t>(65536, room)),
                                                   net::as_tuple(net::use_awaitable));
    buffer.commit(n);
    if (ec == net::error::operation_aborted && expired) {
      co_return beast::error::timeout;
    }
    if (ec == net::error::eof) {
      if (!parser.got_some()) {
        co_return http::error::end_of_stream;
      }
      boost::system::error_code eof_ec;
      parser.put_eof(eof_ec);
      co_return eof_ec ? eof_ec : http::error::partial_message;
    }
    if (ec) {
      co_return ec;
    }
  }
}

}  // namespace mcpgw
