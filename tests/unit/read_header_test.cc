// read_header against real loopback sockets: headers in pieces, the bytes after a
// header left in the buffer, a connection closed before or within a header, the header limit,
// and a read cancelled by its deadline.
#include "http/read_header.h"

#include "co_run.h"
#include "loopback_pair.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/error.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

using namespace mcpgw;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

using mcpgw::testing::connect_pair;

// Writes each piece 20 ms after the previous one, then closes the connection if asked.
asio::awaitable<void> send_pieces(asio::ip::tcp::socket& socket, std::vector<std::string> pieces,
                                  bool close_after) {
  asio::steady_timer gap(socket.get_executor());
  for (const auto& p : pieces) {
    gap.expires_after(20ms);
    co_await gap.async_wait(tuple_awaitable);
    co_await asio::async_write(socket, asio::buffer(p), tuple_awaitable);
  }
  if (close_after) {
    socket.shutdown(asio::ip::tcp::socket::shutdown_send);
  }
}

const std::string head = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n";

}  // namespace

TEST(ReadHeader, AssemblesAHeaderFromPiecesAndLeavesTheBodyBuffered) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto [server, client] = co_await connect_pair(ex);
    asio::co_spawn(ex, send_pieces(client, {"POST /mcp HT", "TP/1.1\r\nHost: x\r\nCont", "ent-Length: 4\r\n\r", "\nbody"}, false), asio::detached);
    boost::beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    bool expired = false;
    auto ec = co_await read_header(server, buffer, parser, &expired);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(parser.is_header_done());
    EXPECT_EQ(parser.get().target(), "/mcp");
    EXPECT_EQ(parser.get()[http::field::content_length], "4");
    EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), "body") << "the body stays buffered";
  });
}

TEST(ReadHeader, AClosedConnectionIsEndOfStreamBeforeAByteAndPartialWithinAHeader) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    {
      auto [server, client] = co_await connect_pair(ex);
      asio::co_spawn(ex, send_pieces(client, {}, true), asio::detached);
      boost::beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      bool expired = false;
      EXPECT_EQ(co_await read_header(server, buffer, parser, &expired),
                http::error::end_of_stream);
    }
    {
      auto [server, client] = co_await connect_pair(ex);
      asio::co_spawn(ex, send_pieces(client, {"POST /mcp HTTP/1.1\r\nHo"}, true), asio::detached);
      boost::beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      bool expired = false;
      EXPECT_EQ(co_await read_header(server, buffer, parser, &expired),
                http::error::partial_message);
    }
  });
}

TEST(ReadHeader, RefusesAHeaderOverTheLimitAndReportsParseErrors) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    {
      auto [server, client] = co_await connect_pair(ex);
      std::string big = "POST /mcp HTTP/1.1\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n";
      asio::co_spawn(ex, send_pieces(client, {big}, false), asio::detached);
      boost::beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      parser.header_limit(1024);
      bool expired = false;
      EXPECT_EQ(co_await read_header(server, buffer, parser, &expired),
                http::error::header_limit);
    }
    {
      auto [server, client] = co_await connect_pair(ex);
      asio::co_spawn(ex, send_pieces(client, {"POST /mcp HTTP/1.1\r\nBad Header\r\n\r\n"}, false),
                     asio::detached);
      boost::beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      bool expired = false;
      auto ec = co_await read_header(server, buffer, parser, &expired);
      EXPECT_TRUE(ec);
      EXPECT_EQ(ec.category(), http::make_error_code(http::error::bad_field).category())
          << ec.message();
    }
  });
}

TEST(ReadHeader, AReadCancelledAfterItsDeadlineIsATimeout) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto [server, client] = co_await connect_pair(ex);
    bool expired = false;
    asio::steady_timer deadline(ex, 50ms);
    deadline.async_wait([&](boost::system::error_code) {
      expired = true;  // what the server's sweep does when a read's deadline passes
      server.cancel();
    });
    boost::beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await read_header(server, buffer, parser, &expired),
              boost::beast::error::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
  });
}

TEST(ReadHeader, AHeaderStillIncompleteWhenItsDeadlineHasPassedIsATimeoutWithoutAnotherRead) {
  // The sweep marked the read expired, but its cancel found the read already complete (the
  // bytes were waiting to be resumed with): the rest of the header gets no further read.
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto [server, client] = co_await connect_pair(ex);
    boost::beast::flat_buffer buffer;
    const std::string part = "POST /mcp HTTP/1.1\r\nHost: x\r\n";
    auto room = buffer.prepare(part.size());
    std::memcpy(room.data(), part.data(), part.size());
    buffer.commit(part.size());
    http::request_parser<http::string_body> parser;
    bool expired = true;
    // Were a read started, the client's close after a second would end it: partial_message.
    asio::steady_timer guard(ex, 1s);
    guard.async_wait([&](boost::system::error_code ec) {
      if (!ec) {
        client.close();
      }
    });
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await read_header(server, buffer, parser, &expired),
              boost::beast::error::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms) << "no read was started";
    guard.cancel();
  });
}
