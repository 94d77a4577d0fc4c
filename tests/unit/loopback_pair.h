// A connected pair of TCP sockets on 127.0.0.1 (port 0), for unit tests that drive real
// sockets: `server` is the accepted side, `client` the connecting one.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>

namespace mcpgw::testing {

struct socket_pair {
  boost::asio::ip::tcp::socket server;
  boost::asio::ip::tcp::socket client;
};

inline boost::asio::awaitable<socket_pair> connect_pair(boost::asio::any_io_executor ex) {
  boost::asio::ip::tcp::acceptor acceptor(ex, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket client(ex);
  client.connect(acceptor.local_endpoint());
  auto server = co_await acceptor.async_accept(boost::asio::use_awaitable);
  co_return socket_pair{std::move(server), std::move(client)};
}

}  // namespace mcpgw::testing
