// Reading an HTTP header without Beast's composed read operations: reads on the stream, the
// parser fed in place. Beast's async_read_header stacks three composed operations per read,
// each moving the type-erased executor and completing through the scheduler; here one read is
// one asynchronous operation. Used by gateway_server::serve for client requests (on the raw
// socket, with the server's deadline sweep) and by http_backend for backend answers (on the
// tcp_stream, whose timer keeps the request's deadline).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>

#include <cstddef>

namespace mcpgw {

namespace net = boost::asio;
namespace beast = boost::beast;

// Reads until `parser` has the whole header; the bytes after it stay in `buffer`. The errors
// are Beast's: http::error::end_of_stream for a connection closed before a byte of the
// header, partial_message for one closed within it, header_limit, the parse errors, the
// stream's own (beast::error::timeout from a tcp_stream), and beast::error::timeout too when a
// read was cancelled because `*expired` became true (the server's deadline sweep).
template <typename Stream, typename Parser>
net::awaitable<boost::system::error_code> read_header(Stream& stream, beast::flat_buffer& buffer,
                                                      Parser& parser,
                                                      const bool* expired = nullptr) {
  parser.eager(false);  // the header alone: the caller reads or parses the body
  while (true) {
    if (buffer.size() != 0) {
      boost::system::error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != beast::http::error::need_more) {
        co_return ec;
      }
      if (parser.is_header_done()) {
        co_return boost::system::error_code{};
      }
    }
    // The sweep's cancel misses a read that already completed and waits to resume: the next
    // read of the same header must not start after the deadline passed, or it would have none.
    if (expired != nullptr && *expired) {
      co_return beast::error::timeout;
    }
    // As Beast reads: into the room the buffer has (at least 512 bytes, at most 64 KiB), so
    // that an idle connection's buffer stays small.
    if (buffer.size() >= buffer.max_size()) {
      co_return beast::http::error::header_limit;
    }
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, 65536)),
                                                   net::as_tuple(net::use_awaitable));
    buffer.commit(n);
    if (ec == net::error::operation_aborted && expired != nullptr && *expired) {
      co_return beast::error::timeout;
    }
    if (ec == net::error::eof) {
      if (!parser.got_some()) {
        co_return beast::http::error::end_of_stream;
      }
      boost::system::error_code eof_ec;
      parser.put_eof(eof_ec);
      co_return eof_ec ? eof_ec : beast::http::error::partial_message;
    }
    if (ec) {
      co_return ec;
    }
  }
}

}  // namespace mcpgw
