// The responder against real loopback sockets: a response is written at once when the socket
// takes it, and the rest asynchronously when it does not; a dead peer is a failed write.
#include "http/responder.h"

#include "co_run.h"
#include "loopback_pair.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

using namespace mcpgw;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

using mcpgw::testing::connect_pair;

// Reads until `want` bytes came or the connection ended.
asio::awaitable<std::string> read_bytes(asio::ip::tcp::socket& socket, std::size_t want) {
  std::string got(want, '\0');
  auto [ec, n] = co_await asio::async_read(socket, asio::buffer(got), tuple_awaitable);
  got.resize(n);
  co_return got;
}

// Starts reading only after 100 ms, so that the writer finds the socket's buffers full.
asio::awaitable<void> read_late(asio::ip::tcp::socket& socket, std::size_t want,
                                std::string& received, bool& done) {
  asio::steady_timer late(socket.get_executor(), 100ms);
  co_await late.async_wait(tuple_awaitable);
  received = co_await read_bytes(socket, want);
  done = true;
}

}  // namespace

TEST(Responder, WritesASmallResponseAtOnceAndALargeOneWholeThroughASlowReader) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto [server, client] = co_await connect_pair(ex);
    // A small send buffer, and a reader that starts late: the first write takes only part.
    server.set_option(asio::socket_base::send_buffer_size(16 * 1024));
    client.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
    any_stream stream{beast::tcp_stream(std::move(server))};
    connection_state state = connection_state::handling;
    responder res(stream, true, 10s, state);

    const std::string small = R"({"small":true})";
    EXPECT_TRUE(co_await res.send(200, "application/json", small));
    const std::string small_head =
        "HTTP/1.1 200 OK\r\nServer: mcpgw\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(small.size()) + "\r\n\r\n";
    EXPECT_EQ(co_await read_bytes(client, small_head.size() + small.size()), small_head + small);

    std::string body(4 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) {
      body[i] = static_cast<char>('a' + i % 26);
    }
    std::string large_head =
        "HTTP/1.1 200 OK\r\nServer: mcpgw\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    std::string received;
    bool reader_done = false;
    asio::co_spawn(ex, read_late(client, large_head.size() + body.size(), received, reader_done),
                   asio::detached);
    EXPECT_TRUE(co_await res.send(200, "application/json", body));
    EXPECT_FALSE(res.failed());
    asio::steady_timer wait(ex, 10ms);
    for (int i = 0; i < 500 && !reader_done; ++i) {
      wait.expires_after(10ms);
      co_await wait.async_wait(tuple_awaitable);
    }
    EXPECT_TRUE(reader_done);
    EXPECT_EQ(received.size(), large_head.size() + body.size());
    EXPECT_TRUE(received == large_head + body) << "every byte, in order, once";
  });
}

TEST(Responder, AWriteToAPeerThatResetTheConnectionFails) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto [server, client] = co_await connect_pair(ex);
    client.set_option(asio::socket_base::linger(true, 0));
    client.close();  // RST
    asio::steady_timer settle(ex, 50ms);
    co_await settle.async_wait(tuple_awaitable);
    any_stream stream{beast::tcp_stream(std::move(server))};
    connection_state state = connection_state::handling;
    responder res(stream, true, 1s, state);
    EXPECT_FALSE(co_await res.send(200, "application/json", R"({"to":"nobody"})"));
    EXPECT_TRUE(res.failed());
    EXPECT_FALSE(res.keep_alive());
    EXPECT_FALSE(co_await res.send_empty(202)) << "nothing more is written after a failure";
  });
}
