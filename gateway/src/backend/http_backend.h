// A Streamable HTTP MCP backend seen from the gateway: a keep-alive connection pool and one
// exchange per request whose response is read whole (JSON) or event by event (SSE).
// Owned by the server; sessions borrow it for their lifetime.
#pragma once

#include "http/any_stream.h"
#include "http/read_readiness.h"
#include "http/simple_http.h"
#include "mcpgw/config.h"
#include "mcpgw/log.h"
#include "mcpgw/sse.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace mcpgw {

namespace http = beast::http;

enum class backend_failure {
  none,
  unavailable,  // connect, TLS or transport error
  timeout,      // deadline passed
  protocol,     // the answer is not HTTP/MCP we can use (bad framing, message too large)
};

struct backend_request {
  http::verb method = http::verb::post;
  std::string_view body;
  std::string_view session_id;        // upstream Mcp-Session-Id, empty before initialize
  std::string_view protocol_version;  // MCP-Protocol-Version, empty before initialize
  std::string_view last_event_id;     // resumption of an SSE stream (GET)
  bool stream = false;                // a long-lived GET stream: no response deadline
  std::string_view target;            // path and query; empty: the configured URL's
  std::string_view tenant;            // picks the tenant's credential headers, if it has some
  std::string_view accept;            // Accept header; empty: what MCP asks for the method
  std::string_view mcp_method;        // the JSON-RPC method of a request: decides on retries
  std::string_view extra_headers;     // raw "Name: value\r\n" lines (replica forwarding)
  std::string_view traceparent;       // W3C trace context sent on; empty: none
  std::string_view tracestate;
};

struct pooled_connection {
  explicit pooled_connection(any_stream s) : stream(std::move(s)) {}
  // Leaves the read set before the socket closes (a close alone would not take it out if a
  // child process still held a copy of the descriptor).
  ~pooled_connection();
  pooled_connection(const pooled_connection&) = delete;
  pooled_connection& operator=(const pooled_connection&) = delete;
  // Plain TCP: the answer's first read waits on the io_context's read_readiness.
  read_readiness::slot read;
  any_stream stream;
  beast::flat_buffer buffer;
  // Response bodies are read through this, allocated once per connection, not per request.
  std::array<char, 16 * 1024> chunk{};
  // The answer parse_simple_response takes whole, for the exchange on this connection: its
  // head buffer is reused by the connection's next answer.
  simple_response response;
  std::chrono::steady_clock::time_point idle_since;
};

// Idle keep-alive connections. Shared with exchanges through a weak link: an exchange that
// outlives its backend (a coroutine frame destroyed at shutdown) closes its connection.
struct connection_pool {
  std::deque<std::unique_ptr<pooled_connection>> idle;
  std::size_t max_idle = 0;
  void release(std::unique_ptr<pooled_connection> conn);
};

class http_backend;

enum class event_status { event, end, failed };

// One request/response with the backend. Holds its connection until destroyed; a connection
// whose response was read to the end goes back to the pool.
class backend_exchange {
 public:
  backend_exchange(http_backend& backend, std::unique_ptr<pooled_connection> conn,
                   std::chrono::steady_clock::time_point deadline, bool streaming);
  ~backend_exchange();
  backend_exchange(const backend_exchange&) = delete;
  backend_exchange& operator=(const backend_exchange&) = delete;

  unsigned status() const { return simple_ ? simple_->status : parser_.get().result_int(); }
  std::string_view header(http::field f) const;
  std::string_view header(std::string_view name) const;
  bool is_sse() const;
  bool is_json() const;

  // Reads the whole body (bounded by max_backend_message).
  net::awaitable<backend_failure> read_body(std::string& out);
  // Reads the next SSE event; `end` when the stream finished cleanly.
  net::awaitable<event_status> next_event(sse::event& out);
  backend_failure failure() const { return failure_; }
  // Aborts the exchange from outside (session closing): pending reads fail at once.
  void cancel();
  // next_event() also reports comment lines (keep-alives), as an event of type ":".
  void report_comments() { report_comments_ = true; }

 private:
  net::awaitable<backend_failure> read_some(std::size_t& got);

  friend class http_backend;
  http_backend& backend_;
  std::weak_ptr<connection_pool> pool_;
  std::unique_ptr<pooled_connection> conn_;
  http::response_parser<http::buffer_body> parser_;
  // Set when the whole answer came with the first read and parse_simple_response took it
  // (conn_->response): parser_ is then unused, and the body is all there.
  simple_response* simple_ = nullptr;
  bool simple_fed_ = false;  // its body went to the SSE decoder
  std::chrono::steady_clock::time_point deadline_;
  // limits.max_call_duration after the request went out (never for long-lived GET streams):
  // events no longer push deadline_ past it.
  std::chrono::steady_clock::time_point hard_deadline_;
  bool streaming_;
  bool cancelled_ = false;  // cancel() was called: no read waits again
  bool report_comments_ = false;
  std::size_t comments_seen_ = 0;
  sse::decoder sse_;
  backend_failure failure_ = backend_failure::none;
};

class http_backend {
 public:
  http_backend(net::any_io_executor ex, const backend_config& config, const limits_config& limits,
               logger& log);
  ~http_backend();

  const std::string& name() const { return config_.name; }
  const backend_config& config() const { return config_; }
  std::size_t max_message() const { return limits_.max_backend_message; }
  net::any_io_executor executor() const { return ex_; }

  // Sends the request and reads the response header. On failure the exchange is null. A
  // request of a safe method is tried again (see http.retry_attempts).
  net::awaitable<std::pair<backend_failure, std::unique_ptr<backend_exchange>>> send(
      const backend_request& request);
  // Whether a request of this JSON-RPC method may be sent more than once.
  bool retryable(std::string_view method) const;

  std::size_t idle_connections() const { return pool_->idle.size(); }
  // Closes the idle keep-alive connections: they were to a server that has since gone (a
  // replica found dead, or back after a restart) and would each fail one request.
  void drop_idle_connections() { pool_->idle.clear(); }
  // The configured URL's "host:port" as it goes in the Host header, and its path and query.
  const std::string& authority() const { return host_header_; }
  const std::string& target() const { return target_; }

 private:
  friend class backend_exchange;
  net::awaitable<std::pair<backend_failure, std::unique_ptr<pooled_connection>>> connect(
      std::chrono::steady_clock::time_point deadline);
  // An idle connection the backend has closed (or sent something on) is not reusable.
  static bool still_open(pooled_connection& conn);
  // The request line and header fields of `request`, through the blank line, appended to
  // `out`; the body is written after it from request.body (a gather write, no copy of it).
  void build_head(const backend_request& request, std::string& out) const;

  net::any_io_executor ex_;
  backend_config config_;
  limits_config limits_;
  logger& log_;
  bool tls_ = false;
  std::string host_;
  std::string port_;
  std::string target_;
  std::string host_header_;
  std::string post_head_;  // "POST <target_> HTTP/1.1", Host and User-Agent, serialized once
  // The credential header lines (http.headers, and per tenant http.tenant_headers over them),
  // serialized once.
  void prepare_credentials();
  net::awaitable<std::pair<backend_failure, std::unique_ptr<backend_exchange>>> send_once(
      const backend_request& request);
  std::minstd_rand jitter_{std::random_device{}()};
  std::string credential_lines_;
  std::map<std::string, std::string, std::less<>> tenant_credential_lines_;
  std::optional<net::ip::tcp::endpoint> literal_;  // set when the URL's host is an IP address
  std::optional<net::ssl::context> tls_ctx_;
  read_readiness& readiness_ = read_readiness::of(ex_);
  std::shared_ptr<connection_pool> pool_ = std::make_shared<connection_pool>();
};

}  // namespace mcpgw
