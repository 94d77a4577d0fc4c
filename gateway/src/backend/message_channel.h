// A session's link to a backend that speaks in single messages both ways instead of HTTP
// exchanges: a stdio process, or a legacy HTTP+SSE backend. The base class holds what arrives
// until a session takes it and delivers it in order, with back-pressure on the source; the
// subclass writes messages out and reads them in.
#pragma once

#include "mcpgw/config.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace mcpgw {

namespace net = boost::asio;

// What a channel says to the session that holds it. Implemented by the session layer.
class channel_listener {
 public:
  virtual ~channel_listener() = default;
  // One message the backend sent that looks like JSON (not validated here).
  virtual net::awaitable<void> on_message(std::string message) = 0;
  // A message longer than limits.max_backend_message was discarded; `id` is the raw JSON-RPC
  // id found near its end ("" when none), so the request it answered can fail at once.
  virtual void on_oversize(std::string_view id, std::size_t size) = 0;
  // The channel is gone (the process exited, the stream ended), after its last message.
  virtual void on_exit(const std::string& why) = 0;
};

class message_channel : public std::enable_shared_from_this<message_channel> {
 public:
  explicit message_channel(net::any_io_executor ex);
  virtual ~message_channel();
  message_channel(const message_channel&) = delete;
  message_channel& operator=(const message_channel&) = delete;

  // Queues one JSON-RPC message for the backend. False when the channel is gone or stopping,
  // or cannot take more (the backend stopped reading).
  virtual bool send(std::string_view message) = 0;
  // Ends the channel in the background; the listener hears no more. Safe to call twice.
  virtual void stop() = 0;
  // For logs: "pid 4242", "http://127.0.0.1:3001/sse".
  virtual std::string describe() const = 0;

  // Gives the channel to a session: messages that arrived before are delivered first.
  void attach(std::shared_ptr<channel_listener> listener, std::string session_id);
  bool ended() const { return ended_; }
  // Why the channel ended ("exit code 3", "the backend closed its SSE stream").
  const std::string& exit_reason() const { return exit_reason_; }
  const std::string& session_id() const { return session_id_; }
  net::any_io_executor executor() const { return ex_; }

  // A warm channel the pool initialized: the initialize it sent and the answer (else empty).
  const std::string& init_request() const { return init_request_; }
  const std::string& init_response() const { return init_response_; }

 protected:
  // Hands one message (or an oversize marker) to the session, waiting while the inbox is full.
  net::awaitable<void> queue(std::string text, std::size_t oversize = 0);
  // Starts delivering; call once the subclass's readers run.
  void start_delivery();
  // No more messages will come: once those queued are delivered, the listener hears on_exit.
  void source_done(std::string reason);
  // Drops what is queued and the listener (stop()).
  void detach_listener();
  // Called once the channel has ended and its last message was delivered.
  virtual void on_ended() {}
  bool source_finished() const { return source_done_; }

  std::string init_request_;
  std::string init_response_;

 private:
  struct inbound {
    std::string text;
    std::size_t oversize = 0;  // > 0: a discarded message of this size; text is its id
  };
  net::awaitable<void> deliver_loop();
  void wake() { wake_.cancel(); }

  net::any_io_executor ex_;
  std::shared_ptr<channel_listener> listener_;
  std::string session_id_;
  std::deque<inbound> inbox_;
  bool source_done_ = false;
  bool detached_ = false;
  bool ended_ = false;
  std::string exit_reason_;
  net::steady_timer wake_;  // inbox, listener or source changed
};

}  // namespace mcpgw
