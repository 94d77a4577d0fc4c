// The backend client against real loopback sockets: deadlines and the pooled-connection retry.
#include "backend/http_backend.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

using namespace mcpgw;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view ok_body = R"({"jsonrpc":"2.0","id":1,"result":{}})";

// The fake backends' one answer: 200 with a small JSON-RPC result, keep-alive.
asio::awaitable<void> write_json_ok(asio::ip::tcp::socket& socket) {
  std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(ok_body.size()) + "\r\n\r\n" + std::string(ok_body);
  co_await asio::async_write(socket, asio::buffer(response), tuple_awaitable);
}

backend_config make_backend(std::uint16_t port, duration timeout, duration connect_timeout) {
  backend_config b;
  b.name = "test";
  b.http.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  b.http.timeout = timeout;
  b.http.connect_timeout = connect_timeout;
  return b;
}

struct outcome {
  backend_failure failure = backend_failure::none;
  unsigned status = 0;
  std::string body;
  std::chrono::milliseconds took{0};
};

asio::awaitable<void> post_once(http_backend& backend, outcome& out) {
  auto start = std::chrono::steady_clock::now();
  backend_request req;
  req.body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  auto [failure, exchange] = co_await backend.send(req);
  out.failure = failure;
  if (exchange) {
    out.status = exchange->status();
    out.failure = co_await exchange->read_body(out.body);
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
}

}  // namespace

TEST(HttpBackend, ConnectTimeoutFiresWhenTheBackendNeverCompletesTheHandshake) {
  asio::io_context ioc;
  // A listener with a zero backlog that never accepts: once one connection fills its queue,
  // the kernel drops further SYNs and a connect hangs until our deadline.
  asio::ip::tcp::acceptor acceptor(ioc, asio::ip::tcp::v4());
  acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
  acceptor.listen(0);
  std::uint16_t port = acceptor.local_endpoint().port();
  std::vector<asio::ip::tcp::socket> fillers;
  for (int i = 0; i < 3; ++i) {
    fillers.emplace_back(ioc);
    fillers.back().async_connect(acceptor.local_endpoint(), [](auto) {});
  }
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(), make_backend(port, 5s, 200ms), limits, log);
  outcome out;
  asio::co_spawn(ioc, post_once(backend, out), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run_for(4s);
  EXPECT_EQ(out.failure, backend_failure::timeout);
  EXPECT_GE(out.took, 150ms);
  EXPECT_LT(out.took, 2s) << "the connect deadline, not the 5 s response deadline, ended it";
}

TEST(HttpBackend, ResponseTimeoutFiresWhenTheBackendNeverAnswers) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket silent(ioc);
  acceptor.async_accept(silent, [](auto) {});
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(),
                       make_backend(acceptor.local_endpoint().port(), 300ms, 1s), limits, log);
  outcome out;
  asio::co_spawn(ioc, post_once(backend, out), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run_for(3s);
  EXPECT_EQ(out.failure, backend_failure::timeout);
  EXPECT_GE(out.took, 250ms);
  EXPECT_LT(out.took, 1500ms);
}

namespace {

// Answers one request per connection with keep-alive, then closes the connection anyway, as
// a backend with a short idle timeout does between two requests.
asio::awaitable<void> answer_then_close(asio::ip::tcp::acceptor& acceptor, int& accepted) {
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
    if (ec) {
      co_return;
    }
    ++accepted;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
    auto [rec, n] = co_await boost::beast::http::async_read(socket, buffer, req, tuple_awaitable);
    if (rec) {
      continue;
    }
    co_await write_json_ok(socket);
    boost::system::error_code ignored;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
}

asio::awaitable<void> post_twice(http_backend& backend, outcome& first, outcome& second) {
  co_await post_once(backend, first);
  // Let the backend's close reach us and the connection age past the check threshold (1 s),
  // so the pooled connection is stale when it is next taken.
  asio::steady_timer pause(co_await asio::this_coro::executor, 1100ms);
  co_await pause.async_wait(tuple_awaitable);
  co_await post_once(backend, second);
}

}  // namespace

TEST(HttpBackend, SkipsAPooledConnectionTheBackendHasClosed) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  int accepted = 0;
  asio::co_spawn(ioc, answer_then_close(acceptor, accepted), asio::detached);
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(), make_backend(acceptor.local_endpoint().port(), 2s, 1s),
                       limits, log);
  outcome first;
  outcome second;
  asio::co_spawn(ioc, post_twice(backend, first, second), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run_for(5s);
  EXPECT_EQ(first.failure, backend_failure::none);
  EXPECT_EQ(first.status, 200u);
  EXPECT_EQ(second.failure, backend_failure::none) << "the stale connection is not an error";
  EXPECT_EQ(second.status, 200u);
  EXPECT_EQ(second.body, ok_body);
  EXPECT_EQ(accepted, 2) << "the second request went on a new connection";
}

TEST(HttpBackend, ConnectionRefusedIsUnavailableAtOnce) {
  asio::io_context ioc;
  std::uint16_t port = 0;
  {
    asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(), make_backend(port, 5s, 5s), limits, log);
  outcome out;
  asio::co_spawn(ioc, post_once(backend, out), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run_for(3s);
  EXPECT_EQ(out.failure, backend_failure::unavailable);
  EXPECT_LT(out.took, 1s);
}

namespace {

// Answers the first request of a connection, then reads the second and closes without an
// answer, as a backend that crashes mid-request does.
asio::awaitable<void> answer_once_then_die(asio::ip::tcp::acceptor& acceptor, int& requests) {
  auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
  if (ec) {
    co_return;
  }
  boost::beast::flat_buffer buffer;
  for (int i = 0; i < 2; ++i) {
    boost::beast::http::request<boost::beast::http::string_body> req;
    auto [rec, n] = co_await boost::beast::http::async_read(socket, buffer, req, tuple_awaitable);
    if (rec) {
      co_return;
    }
    ++requests;
    if (i == 0) {
      co_await write_json_ok(socket);
    }
  }
  boost::system::error_code ignored;
  socket.close(ignored);
  // Count any further connection (a resend) as a request too.
  while (true) {
    auto [aec, again] = co_await acceptor.async_accept(tuple_awaitable);
    if (aec) {
      co_return;
    }
    ++requests;
  }
}

}  // namespace

TEST(HttpBackend, NeverResendsARequestTheBackendMayHaveRead) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  int requests = 0;
  asio::co_spawn(ioc, answer_once_then_die(acceptor, requests), asio::detached);
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(), make_backend(acceptor.local_endpoint().port(), 2s, 1s),
                       limits, log);
  outcome first;
  outcome second;
  asio::co_spawn(
      ioc,
      [](http_backend& b, outcome& a, outcome& c) -> asio::awaitable<void> {
        co_await post_once(b, a);
        co_await post_once(b, c);
      }(backend, first, second),
      [&](std::exception_ptr) {
        // Give a (wrong) resend time to arrive before stopping.
        auto t = std::make_shared<asio::steady_timer>(ioc, 200ms);
        t->async_wait([&, t](auto) { ioc.stop(); });
      });
  ioc.run_for(5s);
  EXPECT_EQ(first.failure, backend_failure::none);
  EXPECT_EQ(second.failure, backend_failure::unavailable);
  EXPECT_EQ(requests, 2) << "the second request was written once and never sent again";
}

namespace {

// Reads one request whole, then answers with the header and the body written separately,
// `gap` apart, and the body itself in `pieces` writes: the gateway parses what came with the
// header without I/O and must still wait for the rest.
asio::awaitable<void> answer_in_pieces(asio::ip::tcp::acceptor& acceptor, std::string body,
                                       std::chrono::milliseconds gap, int pieces,
                                       std::size_t& request_bytes) {
  auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
  if (ec) {
    co_return;
  }
  boost::beast::flat_buffer buffer;
  boost::beast::http::request_parser<boost::beast::http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [rec, n] = co_await boost::beast::http::async_read(socket, buffer, parser, tuple_awaitable);
  if (rec) {
    co_return;
  }
  request_bytes = parser.get().body().size();
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n";
  // The first bytes of the body ride with the header, as they usually do.
  const std::size_t piece = body.size() / static_cast<std::size_t>(pieces) + 1;
  std::size_t at = std::min(piece, body.size());
  head += body.substr(0, at);
  co_await asio::async_write(socket, asio::buffer(head), tuple_awaitable);
  asio::steady_timer pause(socket.get_executor());
  while (at < body.size()) {
    pause.expires_after(gap);
    co_await pause.async_wait(tuple_awaitable);
    const std::size_t len = std::min(piece, body.size() - at);
    co_await asio::async_write(socket, asio::buffer(body.data() + at, len), tuple_awaitable);
    at += len;
  }
  pause.expires_after(2s);  // keep the connection until the client is done
  co_await pause.async_wait(tuple_awaitable);
}

}  // namespace

TEST(HttpBackend, ReadsABodyWhosePartsArriveAfterTheHeader) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  std::string body =
      R"({"jsonrpc":"2.0","id":1,"result":{"text":")" + std::string(3000, 'x') + R"("}})";
  std::size_t request_bytes = 0;
  asio::co_spawn(ioc, answer_in_pieces(acceptor, body, 30ms, 3, request_bytes), asio::detached);
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(), make_backend(acceptor.local_endpoint().port(), 5s, 1s),
                       limits, log);
  outcome out;
  asio::co_spawn(ioc, post_once(backend, out), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run_for(5s);
  EXPECT_EQ(out.failure, backend_failure::none);
  EXPECT_EQ(out.status, 200u);
  EXPECT_EQ(out.body, body) << "the part parsed with the header and the parts read later, in order";
  EXPECT_GE(out.took, 50ms) << "it waited for the later parts";
}

TEST(HttpBackend, WritesARequestLargerThanTheSocketTakesAtOnce) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  std::size_t request_bytes = 0;
  asio::co_spawn(ioc, answer_in_pieces(acceptor, std::string(ok_body), 1ms, 1, request_bytes),
                 asio::detached);
  logger log(log_level::error, stderr);
  limits_config limits;
  http_backend backend(ioc.get_executor(), make_backend(acceptor.local_endpoint().port(), 10s, 1s),
                       limits, log);
  // Far more than a loopback socket buffers: the first write takes part of it, the rest
  // goes asynchronously while the backend reads.
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x",)"
                    R"("arguments":{"blob":")" +
                    std::string(16 * 1024 * 1024, 'b') + R"("}}})";
  outcome out;
  auto call = [&]() -> asio::awaitable<void> {
    backend_request req;
    req.body = big;
    auto [failure, exchange] = co_await backend.send(req);
    out.failure = failure;
    if (exchange) {
      out.status = exchange->status();
      out.failure = co_await exchange->read_body(out.body);
    }
  };
  asio::co_spawn(ioc, call(), [&](std::exception_ptr) { ioc.stop(); });
  ioc.run_for(10s);
  EXPECT_EQ(out.failure, backend_failure::none);
  EXPECT_EQ(out.status, 200u);
  EXPECT_EQ(request_bytes, big.size()) << "every byte of the request reached the backend";
  EXPECT_EQ(out.body, ok_body);
}

// Body reads after the header go through the readiness set on plain TCP: the response deadline
// still ends one that waits, and cancel() ends one that has no deadline (a GET stream).
namespace {

// A backend whose answer stalls: a third of the body comes with the header, the rest after
// 3 s; the client's response timeout is 300 ms.
struct stalled_body {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
  std::size_t request_bytes = 0;
  logger log{log_level::error, stderr};
  limits_config limits;
  http_backend backend{ioc.get_executor(),
                       make_backend(acceptor.local_endpoint().port(), 300ms, 1s), limits, log};
  stalled_body() {
    asio::co_spawn(ioc,
                   answer_in_pieces(acceptor, std::string(3000, 'x'), 3000ms, 3, request_bytes),
                   asio::detached);
  }
};

}  // namespace

TEST(HttpBackend, ABodyThatStopsComingTimesOutAtTheDeadline) {
  stalled_body b;
  outcome out;
  asio::co_spawn(b.ioc, post_once(b.backend, out), [&](std::exception_ptr) { b.ioc.stop(); });
  b.ioc.run_for(5s);
  EXPECT_EQ(out.status, 200u) << "the header came in time";
  EXPECT_EQ(out.failure, backend_failure::timeout);
  EXPECT_GE(out.took, 250ms);
  EXPECT_LT(out.took, 2000ms) << "the deadline, not the backend's next part, ended the read";
}

TEST(HttpBackend, CancelEndsABodyReadThatHasNoDeadline) {
  stalled_body b;
  backend_exchange* reading = nullptr;
  outcome out;
  auto stream_once = [&]() -> asio::awaitable<void> {
    const auto start = std::chrono::steady_clock::now();
    backend_request req;
    req.method = boost::beast::http::verb::get;
    req.stream = true;  // no response deadline: only cancel() ends the wait
    auto [failure, exchange] = co_await b.backend.send(req);
    out.failure = failure;
    if (exchange) {
      out.status = exchange->status();
      reading = exchange.get();
      out.failure = co_await exchange->read_body(out.body);
      reading = nullptr;
    }
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  };
  asio::co_spawn(b.ioc, stream_once(), [&](std::exception_ptr) { b.ioc.stop(); });
  asio::steady_timer later(b.ioc, 500ms);
  later.async_wait([&](auto) {
    ASSERT_NE(reading, nullptr) << "the body read should be waiting by now";
    reading->cancel();
  });
  b.ioc.run_for(5s);
  EXPECT_EQ(out.status, 200u);
  EXPECT_EQ(out.failure, backend_failure::unavailable);
  EXPECT_GE(out.took, 450ms) << "it waited past the 300 ms timeout: a stream has no deadline";
  EXPECT_LT(out.took, 2000ms) << "cancel(), not the backend's next part, ended the read";
}
