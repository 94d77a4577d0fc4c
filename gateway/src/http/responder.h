// Writes one HTTP response onto a client connection: a complete response, or a chunked SSE
// stream written event by event. Handlers get one per request from the connection loop.
#pragma once

#include "http/any_stream.h"
#include "mcpgw/config.h"
#include "observability/trace.h"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace prometheus {
class Counter;
class Gauge;
}  // namespace prometheus

namespace mcpgw {

using header_list = std::span<const std::pair<std::string_view, std::string_view>>;

// What the connection is doing, so shutdown knows what it may cut.
enum class connection_state { idle, handling, streaming };

// Where a response counts its bytes and whether it is an open SSE stream (null: not counted).
// Bytes are added to a plain integer, which the server folds into mcpgw_sent_bytes_total at
// each scrape (an atomic counter's compare-and-swap per write is not needed on one thread).
struct response_traffic {
  std::uint64_t* sent = nullptr;
  prometheus::Gauge* streams = nullptr;
};

class responder {
 public:
  responder(any_stream& stream, bool keep_alive, duration write_timeout, connection_state& state)
      : stream_(stream), keep_alive_(keep_alive), write_timeout_(write_timeout), state_(state) {}
  ~responder();
  responder(const responder&) = delete;
  responder& operator=(const responder&) = delete;

  // Set before the first write: counters of the route the request went to.
  void count_into(response_traffic traffic) { traffic_ = traffic; }
  // The request's id (echoed as X-Request-Id on every response) and its trace context
  // headers; views into the request, which outlives the responder.
  void set_request(trace::carried carried) { trace_ = carried; }
  std::string_view request_id() const { return trace_.request_id; }
  const trace::carried& trace() const { return trace_; }

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
  // Writes what the socket takes at once (any_stream::write_now) and advances `buffers` past
  // it: true when nothing is left, or when the write failed (failed_ set).
  bool write_now(std::span<net::const_buffer> buffers);
  void count_sent(std::size_t n);

  any_stream& stream_;
  bool keep_alive_;
  duration write_timeout_;
  connection_state& state_;
  bool failed_ = false;
  bool started_ = false;
  bool client_gone_ = false;
  bool head_only_ = false;
  bool forwarded_ = false;
  bool streaming_ = false;  // counted in traffic_.streams
  response_traffic traffic_;
  trace::carried trace_;
};

}  // namespace mcpgw
