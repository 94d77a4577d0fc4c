// A TCP stream, optionally wrapped in TLS, behind one AsyncStream type so the HTTP code is
// written once for both. Timeouts come from the underlying beast::tcp_stream.
#pragma once

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <variant>

namespace mcpgw {

namespace net = boost::asio;
namespace beast = boost::beast;

class any_stream {
 public:
  using executor_type = net::any_io_executor;
  using tls_stream = beast::ssl_stream<beast::tcp_stream>;

  explicit any_stream(beast::tcp_stream tcp) : stream_(std::move(tcp)) {}
  any_stream(beast::tcp_stream tcp, net::ssl::context& ctx)
      : stream_(std::in_place_type<tls_stream>, std::move(tcp), ctx) {}

  executor_type get_executor() { return tcp().get_executor(); }
  bool is_tls() const { return std::holds_alternative<tls_stream>(stream_); }
  tls_stream& tls() { return std::get<tls_stream>(stream_); }

  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); },
                      stream_);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  void close() {
    boost::system::error_code ignored;
    tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    tcp().close();
  }

 private:
  std::variant<beast::tcp_stream, tls_stream> stream_;
};

}  // namespace mcpgw
