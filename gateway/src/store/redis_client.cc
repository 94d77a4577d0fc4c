#include "store/redis_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <vector>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr duration first_backoff = std::chrono::milliseconds(100);

}  // namespace

redis_client::redis_client(net::any_io_executor ex, redis_options options, logger& log)
    : ex_(std::move(ex)),
      options_(std::move(options)),
      log_(log),
      where_((options_.host.find(':') != std::string::npos ? "[" + options_.host + "]"
                                                           : options_.host) +
             ":" + std::to_string(options_.port) + "/" + std::to_string(options_.db)),
      write_signal_(ex_, net::steady_timer::time_point::max()) {}

redis_client::~redis_client() = default;

void redis_client::close() {
  if (state_ == state::closed) {
    return;
  }
  drop(redis_failure::closed, "the gateway is shutting down");
  state_ = state::closed;
}

void redis_client::finish(call& c, redis_failure failure, std::string error) {
  if (c.done) {
    return;
  }
  c.done = true;
  c.result.failure = failure;
  c.result.error = std::move(error);
  c.wake.cancel();
}

void redis_client::drop(redis_failure failure, const std::string& why) {
  if (state_ == state::closed) {
    return;
  }
  ++generation_;  // the old connection's loops see it is not theirs any more
  if (stream_) {
    boost::system::error_code ignored;
    stream_->socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    stream_->close();
    stream_.reset();
  }
  write_signal_.cancel();
  pipeline_.reset();
  auto calls = std::move(calls_);
  calls_.clear();
  for (auto& [number, c] : calls) {
    finish(*c, failure, why);
  }
  if (state_ == state::connected) {
    log_.warn("redis connection lost", {{"redis", where_}, {"error", why}});
  }
  state_ = state::idle;
  last_error_ = why;
}

void redis_client::start_connecting() {
  state_ = state::connecting;
  std::uint64_t generation = ++generation_;
  pipeline_.reset();
  // AUTH and SELECT go first; what callers queue while the connection opens follows them.
  handshake_last_ = 0;
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      std::array<std::string_view, 2> auth{"AUTH", options_.password};
      handshake_last_ = pipeline_.enqueue(auth);
    } else {
      std::array<std::string_view, 3> auth{"AUTH", options_.username, options_.password};
      handshake_last_ = pipeline_.enqueue(auth);
    }
  }
  if (options_.db != 0) {
    std::string db = std::to_string(options_.db);
    std::array<std::string_view, 2> select{"SELECT", db};
    handshake_last_ = pipeline_.enqueue(select);
  }
  net::co_spawn(ex_, connect(shared_from_this(), generation), net::detached);
}

net::awaitable<void> redis_client::connect(std::shared_ptr<redis_client> self,
                                           std::uint64_t generation) {
  beast::tcp_stream tcp(ex_);
  tcp.expires_after(options_.connect_timeout);
  boost::system::error_code ec;
  boost::system::error_code parse_ec;
  auto literal = net::ip::make_address(options_.host, parse_ec);
  if (!parse_ec) {
    std::tie(ec) =
        co_await tcp.async_connect(net::ip::tcp::endpoint(literal, options_.port), tuple_awaitable);
  } else {
    net::ip::tcp::resolver resolver(ex_);
    auto [rec, endpoints] = co_await resolver.async_resolve(
        options_.host, std::to_string(options_.port), tuple_awaitable);
    ec = rec;
    if (!ec) {
      net::ip::tcp::endpoint ignored;
      std::tie(ec, ignored) = co_await tcp.async_connect(endpoints, tuple_awaitable);
    }
  }
  if (generation != generation_ || state_ != state::connecting) {
    co_return;  // closed or superseded meanwhile
  }
  if (ec) {
    std::string why = "cannot connect to redis at " + where_ + ": " +
                      (ec == beast::error::timeout ? std::string("timed out") : ec.message());
    if (last_error_ != why) {
      log_.warn("redis unreachable", {{"redis", where_}, {"error", why}});
    }
    drop(redis_failure::unreachable, why);
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
    co_return;
  }
  tcp.expires_never();
  tcp.socket().set_option(net::ip::tcp::no_delay(true));
  stream_ = std::make_shared<beast::tcp_stream>(std::move(tcp));
  state_ = state::connected;
  backoff_ = first_backoff;
  last_error_.clear();
  log_.info("redis connected", {{"redis", where_}});
  net::co_spawn(ex_, read_loop(self, generation), net::detached);
  co_await write_loop(std::move(self), generation);
}

net::awaitable<void> redis_client::write_loop(std::shared_ptr<redis_client> self,
                                              std::uint64_t generation) {
  (void)self;
  const std::shared_ptr<beast::tcp_stream> stream = stream_;
  while (generation == generation_ && state_ == state::connected) {
    if (!pipeline_.has_output()) {
      co_await write_signal_.async_wait(tuple_awaitable);
      continue;
    }
    std::string out = pipeline_.take_output();
    auto [ec, n] = co_await net::async_write(*stream, net::buffer(out), tuple_awaitable);
    (void)n;
    if (generation != generation_) {
      co_return;
    }
    if (ec) {
      drop(redis_failure::unreachable, "writing to redis at " + where_ + ": " + ec.message());
      co_return;
    }
  }
}

net::awaitable<void> redis_client::read_loop(std::shared_ptr<redis_client> self,
                                             std::uint64_t generation) {
  (void)self;
  const std::shared_ptr<beast::tcp_stream> stream = stream_;
  std::array<char, 16384> buffer;
  std::string error;
  while (generation == generation_ && state_ == state::connected) {
    auto [ec, n] = co_await stream->async_read_some(net::buffer(buffer), tuple_awaitable);
    if (generation != generation_) {
      co_return;
    }
    if (ec) {
      drop(redis_failure::unreachable,
           "redis at " + where_ + " closed the connection" +
               (ec == net::error::eof ? std::string() : ": " + ec.message()));
      co_return;
    }
    bool parsed = pipeline_.feed(
        std::string_view(buffer.data(), n),
        [this](std::uint64_t number, redis_reply&& reply) { on_reply(number, std::move(reply)); },
        error);
    if (!parsed) {
      drop(redis_failure::unreachable, "redis at " + where_ + " sent " + error);
      co_return;
    }
  }
}

void redis_client::on_reply(std::uint64_t number, redis_reply&& reply) {
  if (number <= handshake_last_) {
    if (reply.is_error()) {
      // Refused credentials or database: nothing on this connection can work.
      std::string why = "redis at " + where_ + " refused the connection set-up: " + reply.str;
      log_.error("redis set-up refused", {{"redis", where_}, {"error", reply.str}});
      // Dropped after this reply is handled (drop resets the reader we are called from).
      net::post(ex_, [self = shared_from_this(), generation = generation_, why] {
        if (generation == self->generation_) {
          self->drop(redis_failure::unreachable, why);
          self->retry_at_ = std::chrono::steady_clock::now() + self->options_.reconnect_max;
        }
      });
    }
    return;
  }
  auto it = calls_.find(number);
  if (it == calls_.end()) {
    return;  // its caller timed out
  }
  auto c = std::move(it->second);
  calls_.erase(it);
  c->result.reply = std::move(reply);
  finish(*c, redis_failure::none, {});
}

net::awaitable<redis_result> redis_client::command(std::span<const std::string_view> args) {
  redis_result failed;
  if (state_ == state::closed) {
    failed.failure = redis_failure::closed;
    failed.error = "the gateway is shutting down";
    co_return failed;
  }
  if (state_ == state::idle) {
    auto now = std::chrono::steady_clock::now();
    if (now < retry_at_) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
      failed.failure = redis_failure::unreachable;
      failed.error = last_error_ + " (next attempt in " + std::to_string(wait.count()) + " ms)";
      co_return failed;
    }
    start_connecting();
  }
  std::uint64_t number = pipeline_.enqueue(args);
  ++commands_sent_;
  auto c = std::make_shared<call>(ex_);
  calls_.emplace(number, c);
  write_signal_.cancel();
  c->wake.expires_after(options_.command_timeout);
  co_await c->wake.async_wait(tuple_awaitable);
  if (!c->done) {
    // A server that accepts but does not answer (stopped, overloaded): start over.
    calls_.erase(number);
    finish(*c, redis_failure::timeout,
           "redis at " + where_ + " did not answer within " +
               std::to_string(options_.command_timeout.count()) + " ms");
    drop(redis_failure::timeout, c->result.error);
  }
  co_return std::move(c->result);
}

}  // namespace mcpgw
