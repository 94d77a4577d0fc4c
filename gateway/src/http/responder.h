// Writes one HTTP response onto a client connection: a complete response, or a chunked SSE
// stream written event by event. Handlers get one per request from the connection loop.
#pragma once

#include "http/any_stream.h"
#include "mcpgw/config.h"

#include <boost/asio/awaitable.hpp>

#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace mcpgw {

using header_list = std::span<const std::pair<std::string_view, std::string_view>>;

// What the connection is doing, so shutdown knows what it may cut.
enum class connection_state { idle, handling, streaming };

class responder {
 public:
  responder(any_stream& stream, bool keep_alive, duration write_timeout, connection_state& state)
      : stream_(stream), keep_alive_(keep_alive), write_timeout_(write_timeout), state_(state) {}

  net::awaitable<bool> send(unsigned status, std::string_view content_type, std::string_view body,
                            header_list extra = {});
  // 202 Accepted with no body, or any status with no body.
  net::awaitable<bool> send_empty(unsigned status, header_list extra = {});
  net::awaitable<bool> start_stream(header_list extra = {});
  net::awaitable<bool> write_chunk(std::string_view data);
  net::awaitable<bool> end_stream();

  // A long-lived stream (GET) that shutdown may end at once, unlike an in-flight request.
  void mark_long_lived() { state_ = connection_state::streaming; }
  bool keep_alive() const { return keep_alive_ && !failed_ && !client_gone_; }
  // The connection ends after this response (its read side was used to watch for a close).
  void disable_keep_alive() { keep_alive_ = false; }
  void mark_client_gone() { client_gone_ = true; }
  // A HEAD request: responses carry their headers (Content-Length included) and no body.
  void set_head_only() { head_only_ = true; }
  bool client_gone() const { return client_gone_; }
  // The request came from another replica (its session is held here): never forwarded on.
  void set_forwarded() { forwarded_ = true; }
  bool forwarded() const { return forwarded_; }
  bool failed() const { return failed_; }
  bool started() const { return started_; }
  any_stream& stream() { return stream_; }

 private:
  void append_head(std::string& out, unsigned status, header_list extra) const;
  net::awaitable<bool> write(std::string_view data);

  any_stream& stream_;
  bool keep_alive_;
  duration write_timeout_;
  connection_state& state_;
  bool failed_ = false;
  bool started_ = false;
  bool client_gone_ = false;
  bool head_only_ = false;
  bool forwarded_ = false;
};

}  // namespace mcpgw
