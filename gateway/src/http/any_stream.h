// A TCP stream, optionally wrapped in TLS, behind one AsyncStream type so the HTTP code is
// written once for both. Timeouts come from the underlying beast::tcp_stream.
#pragma once

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <span>
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

  // Writes what the socket takes at once, without waiting and without an asynchronous
  // operation (a plain TCP stream only; through TLS nothing is written). Returns the bytes
  // written; `ec` is set only for a failure that an asynchronous write would meet too. The
  // caller writes the rest asynchronously. Used where a response or a backend request is
  // written whole by one coroutine that waits for it: loopback and LAN sockets almost always
  // take a response at once, and the asynchronous path costs a scheduler round trip, a timer
  // and a coroutine resume per write.
  std::size_t write_now(std::span<const net::const_buffer> buffers, boost::system::error_code& ec) {
    if (is_tls() || buffers.empty()) {
      return 0;
    }
    constexpr std::size_t max_parts = 8;
    iovec parts[max_parts];
    std::size_t count = 0;
    for (const auto& b : buffers) {
      if (b.size() == 0) {
        continue;
      }
      if (count == max_parts) {
        break;  // the rest goes asynchronously
      }
      parts[count].iov_base = const_cast<void*>(b.data());
      parts[count].iov_len = b.size();
      ++count;
    }
    if (count == 0) {
      return 0;
    }
    msghdr msg{};
    msg.msg_iov = parts;
    msg.msg_iovlen = count;
    const int fd = std::get<beast::tcp_stream>(stream_).socket().native_handle();
    ssize_t n = 0;
    do {
      n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, boost::system::system_category());
      }
      return 0;
    }
    return static_cast<std::size_t>(n);
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
