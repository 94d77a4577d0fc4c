// A Redis client on the gateway's event loop: one pipelined connection, RESP by hiredis's
// reader and formatter (resp.h), a deadline on every command, reconnection with back-off.
// Shared by the Redis session store and the global rate limits; used from one executor.
#pragma once

#include "store/redis_options.h"
#include "store/resp.h"

#include "mcpgw/config.h"
#include "mcpgw/log.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgw {

namespace net = boost::asio;
namespace beast = boost::beast;

enum class redis_failure {
  none,
  unreachable,  // no connection (refused, reset, AUTH refused); the next attempt is scheduled
  timeout,      // no reply within command_timeout
  closed,       // the client was closed (shutdown)
};

struct redis_result {
  redis_failure failure = redis_failure::none;
  std::string error;  // why, when failure != none
  redis_reply reply;  // may itself be an error reply (a script error, WRONGTYPE)

  bool ok() const { return failure == redis_failure::none; }
};

class redis_client : public std::enable_shared_from_this<redis_client> {
 public:
  redis_client(net::any_io_executor ex, redis_options options, logger& log);
  ~redis_client();

  // Sends one command behind those already in flight and waits for its reply. Never waits
  // longer than command_timeout; fails at once while a reconnection back-off is running.
  net::awaitable<redis_result> command(std::span<const std::string_view> args);
  // Fails what is waiting and stops for good.
  void close();

  bool connected() const { return state_ == state::connected; }
  // Commands handed to the connection since start (for bench/ and metrics).
  std::uint64_t commands_sent() const { return commands_sent_; }
  // "127.0.0.1:6379/0", for messages.
  const std::string& where() const { return where_; }
  const redis_options& options() const { return options_; }

 private:
  enum class state { idle, connecting, connected, closed };
  struct call {
    explicit call(net::any_io_executor ex) : wake(ex) {}
    net::steady_timer wake;
    bool done = false;
    redis_result result;
  };

  void start_connecting();
  net::awaitable<void> connect(std::shared_ptr<redis_client> self, std::uint64_t generation);
  net::awaitable<void> write_loop(std::shared_ptr<redis_client> self, std::uint64_t generation);
  net::awaitable<void> read_loop(std::shared_ptr<redis_client> self, std::uint64_t generation);
  void on_reply(std::uint64_t number, redis_reply&& reply);
  // Drops the connection: every waiting command fails with `failure`.
  void drop(redis_failure failure, const std::string& why);
  void finish(call& c, redis_failure failure, std::string error);

  net::any_io_executor ex_;
  redis_options options_;
  logger& log_;
  std::string where_;
  state state_ = state::idle;
  std::uint64_t generation_ = 0;
  // Shared with the read and write loops: a composed write still in progress when the
  // connection drops keeps using the object until it completes with an error.
  std::shared_ptr<beast::tcp_stream> stream_;
  resp_pipeline pipeline_;
  std::unordered_map<std::uint64_t, std::shared_ptr<call>> calls_;
  std::uint64_t handshake_last_ = 0;  // replies up to this number answer AUTH/SELECT
  net::steady_timer write_signal_;
  std::chrono::steady_clock::time_point retry_at_{};
  duration backoff_ = std::chrono::milliseconds(100);
  std::string last_error_;
  std::uint64_t commands_sent_ = 0;
};

}  // namespace mcpgw
