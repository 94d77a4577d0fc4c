// The filter chain's extension point: what a filter sees of each HTTP request and each MCP
// message crossing the gateway, and how it lets them on or stops them. Filters live in
// plugins/<name>/ and are registered in plugins/builtin.cc; the MCP endpoint runs the chain.
#pragma once

#include "mcpgw/config.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/log.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw {

class redis_client;
class metrics;

namespace net = boost::asio;

// What a hook decides. `stop` ends the message (or HTTP request) with the filter's reply;
// later filters do not see it.
enum class filter_status : std::uint8_t { next, stop };

// Text of at most N bytes kept in the object itself: ids every request carries (request id,
// trace and span ids), whose std::string would allocate once they pass 15 bytes. Reads as a
// string_view; a longer value is cut at N (the ids it holds are shorter by definition).
template <std::size_t N>
class inline_text {
 public:
  inline_text() = default;
  inline_text& operator=(std::string_view text) {
    assign(text);
    return *this;
  }
  void assign(std::string_view text) {
    size_ = text.size() < N ? text.size() : N;
    if (size_ != 0) {
      std::memcpy(data_, text.data(), size_);  // an empty view may have no data() at all
    }
  }
  std::string_view view() const { return {data_, size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: reads as the text it holds
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  std::size_t size() const { return size_; }
  const char* data() const { return data_; }
  friend bool operator==(const inline_text& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const inline_text& a, const inline_text& b) {
    return a.view() == b.view();
  }

 private:
  char data_[N]{};
  std::size_t size_ = 0;
};

// Who is calling, as an authentication filter established it. Later filters (policy, rate
// limits, audit) read it; the session is bound to it.
struct principal {
  enum class method : std::uint8_t { none, api_key, jwt };
  method via = method::none;
  std::string tenant;   // empty when the gateway has no tenants
  std::string subject;  // within the tenant: "key:<the key's SHA-256 in hex>", or the token's sub
  std::string issuer;   // tokens only
  std::vector<std::string> scopes;  // tokens only

  bool authenticated() const { return via != method::none; }
  bool operator==(const principal&) const = default;
  // A session is bound to its creator: the same id presented by anyone else is "not found".
  bool same_as(const principal& other) const {
    return via == other.via && tenant == other.tenant && subject == other.subject &&
           issuer == other.issuer;
  }
};

// "none", "api_key", "jwt": how principals are written in logs, records and headers.
inline std::string_view to_string(principal::method m) {
  switch (m) {
    case principal::method::api_key:
      return "api_key";
    case principal::method::jwt:
      return "jwt";
    case principal::method::none:
      break;
  }
  return "none";
}
// The reverse; false for anything else.
inline bool from_string(std::string_view text, principal::method& out) {
  for (auto m : {principal::method::none, principal::method::api_key, principal::method::jwt}) {
    if (text == to_string(m)) {
      out = m;
      return true;
    }
  }
  return false;
}

struct header_field {
  std::string name;
  std::string value;
};

// What a filter answers instead of letting a message on.
struct local_reply {
  // 200: the message gets a JSON-RPC error (a notification or response is dropped, 202).
  // Anything else (401, 403, 429, 503): the whole HTTP request gets this status, with the
  // JSON-RPC error as its body. In a batch, or on the 2024-11-05 message endpoint after its
  // 202, a status becomes the element's JSON-RPC error.
  unsigned status = 200;
  int code = jsonrpc::invalid_request;
  std::string message;
  std::vector<header_field> headers;  // e.g. WWW-Authenticate, Retry-After
};

// Read access to the client's HTTP request headers without Beast in this header.
class request_headers {
 public:
  // The first value of `name` (case-insensitive), "" when absent.
  virtual std::string_view get(std::string_view name) const = 0;

 protected:
  ~request_headers() = default;
};

enum class client_transport : std::uint8_t { streamable_http, legacy_sse };

// One HTTP request on an MCP route (POST, GET or DELETE; the 2024-11-05 GET /sse and POST
// /message), before its body is read as MCP.
struct http_context {
  const request_headers& headers;
  std::string_view method;   // "POST"
  std::string_view target;   // path and query
  std::string_view route;    // the route's path
  std::string_view backend;  // the route's backend
  client_transport transport = client_transport::streamable_http;
  principal who;      // filled by an authentication filter
  local_reply reply;  // filled by a filter that stops
};

struct request_record;

// One message from the client: a request, a notification, or a response to a server request.
struct message_context {
  const principal& who;
  const request_headers* headers = nullptr;  // null once the HTTP request is gone (2024-11-05)
  std::string_view route;
  std::string_view backend;
  std::string_view session_id;  // for initialize, the id the gateway is about to issue
  jsonrpc::message_kind kind = jsonrpc::message_kind::request;
  std::string_view method;     // requests and notifications
  std::string_view name;       // params.name (tools/call, prompts/get) or params.uri (resources/*)
  std::string_view id;         // the raw id token, requests and responses
  std::string_view body;       // as the client sent it
  local_reply reply;           // filled by a filter that stops
  std::string_view replica;    // the backend replica's URL when the backend has several
  std::string_view arguments;  // params.arguments as sent (raw JSON), empty when absent
  // Requests: their completion record while the chain runs, where a filter keeps what its
  // on_complete needs (request_record::arguments) instead of in a map of its own keyed by
  // session and id. Null for notifications and responses.
  request_record* record = nullptr;
};

// One message to the client: a response, a notification, or a server request, in the client's
// ids, on whatever carries it (JSON body or SSE event).
struct response_context {
  const principal& who;
  std::string_view route;
  std::string_view backend;
  std::string_view session_id;
  jsonrpc::message_kind kind = jsonrpc::message_kind::result;
  // Results and errors: the method and name of the client request they answer. Notifications
  // and server requests: their own method, and no name.
  std::string_view method;
  std::string_view name;
  // The message; a filter may rewrite it (it must stay one JSON-RPC message with the same id).
  std::string& body;
};

// How a client request ended.
enum class request_outcome : std::uint8_t {
  answered,   // a result reached the gateway for the client
  error,      // a JSON-RPC error from the backend or the gateway
  rejected,   // a filter stopped it
  cancelled,  // the client cancelled it
  abandoned,  // the session ended, or the client went away, before an answer
};
std::string_view to_string(request_outcome outcome);

// Everything the completion hook learns about one client request.
struct request_record {
  principal who;
  std::string route;
  std::string backend;
  std::string replica;  // the backend replica's URL when the backend has several
  std::string session_id;
  std::string method;
  std::string name;
  std::string client_id;  // raw id token
  std::chrono::system_clock::time_point started;
  std::chrono::steady_clock::time_point started_steady;
  std::chrono::steady_clock::duration elapsed{};
  // From forwarding to the backend's answer (or failure); zero when it never reached one.
  std::chrono::steady_clock::duration backend_elapsed{};
  inline_text<128> request_id;  // the HTTP request's X-Request-Id (given or minted)
  inline_text<32> trace_id;     // W3C trace context: 32 hex digits, empty when none
  inline_text<16> parent_id;    // the caller's span (16 hex), empty when the gateway began it
  inline_text<16> span_id;      // the gateway's span for this request, sent on as the parent
  request_outcome outcome = request_outcome::abandoned;
  int error_code = 0;
  std::string error_message;
  bool tool_error = false;  // answered with a tool result whose isError is true
  std::size_t request_bytes = 0;
  std::size_t response_bytes = 0;  // the answer as the client got it
  // The request as the client sent it, for requests a filter refused (the others' bodies are
  // not kept: a filter that wants them reads them in on_request).
  std::string request_body;
  // params.arguments as a filter kept them for the record in on_request (through
  // message_context::record): the audit filter's redacted copy, and the SHA-256 (hex) of the
  // arguments as sent, empty when they were absent or not JSON. `arguments_kept` says a
  // filter did.
  std::string arguments;
  inline_text<64> arguments_sha256;
  bool arguments_kept = false;

  // Every field back to a new record's value; the strings keep their buffers. Records are
  // reused per thread (filter/filter_chain.h), so the next request's copies of its session
  // id, principal and arguments fill buffers a finished request left.
  void reset();
  bool operator==(const request_record&) const = default;
};

// A link of the chain. One object per configured filter, shared by every request and
// session: per-request state lives in the contexts. Hooks run on the session's executor; an
// asynchronous hook suspends only its own message. Every hook has a pass-through default.
class filter {
 public:
  virtual ~filter() = default;

  // Every HTTP request on an MCP route. Authentication sets ctx.who here.
  virtual net::awaitable<filter_status> on_http(http_context& ctx);
  // Every message from the client, after its session was found (or, for initialize, before
  // one exists). A stop answers it with ctx.reply and the backend never sees it.
  virtual net::awaitable<filter_status> on_request(message_context& ctx);
  // The same two hooks when they can decide at once. The chain asks these first and starts
  // no coroutine for a filter that answers: a coroutine is a heap block and a resume through
  // the executor, per filter and per message. std::nullopt: this one needs the asynchronous
  // hook (a wait, a Redis round trip). The defaults defer to the asynchronous hooks, so a
  // filter that overrides only those stays correct; one that never waits answers here, and one
  // without an HTTP hook returns filter_status::next from try_http (else the chain starts the
  // default on_http's coroutine for it on every request).
  virtual std::optional<filter_status> try_http(http_context&) { return std::nullopt; }
  virtual std::optional<filter_status> try_request(message_context&) { return std::nullopt; }
  // Every message to the client (responses, notifications, server requests, and errors the
  // gateway makes itself), in order. Synchronous: it runs on the stream's path, where an
  // await would hold up every later event of the session; a filter with I/O to do queues it.
  virtual void on_response(response_context& ctx);
  // Exactly once per client request that reached on_request, whatever happened to it
  // (answered, failed, stopped by a filter, cancelled, its session ended), and once per
  // request of a POST an HTTP hook refused (outcome rejected).
  virtual void on_complete(const request_record& record);

  // An HTTP resource the filter serves outside the MCP routes (a discovery document).
  struct endpoint {
    std::string path;
    std::string content_type;
    std::string body;
  };
  virtual std::vector<endpoint> endpoints() const { return {}; }

  // Background work of the filter (a key refresh) begins once the gateway listens, and ends
  // when it starts to shut down.
  virtual void start() {}
  virtual void stop() {}
};

// What the filters of several workers (`workers:`) share: one object per key, made by the
// first worker's filter that asks and kept by every filter that holds it. Filters are built
// one worker after the other, before the workers run; the lock is for whatever asks later.
class filter_shared_state {
 public:
  template <class T, class Make>
  std::shared_ptr<T> get_or_make(const void* key, Make&& make, bool* made = nullptr) {
    std::lock_guard lock(mutex_);
    std::shared_ptr<void>& slot = objects_[key];
    if (made != nullptr) {
      *made = !slot;
    }
    if (!slot) {
      slot = std::shared_ptr<T>(make());
    }
    return std::static_pointer_cast<T>(slot);
  }

 private:
  std::mutex mutex_;
  std::map<const void*, std::shared_ptr<void>> objects_;
};

// What a filter may use when it is built. Everything outlives the filter.
struct filter_services {
  net::any_io_executor executor;
  logger& log;
  const gateway_config& config;
  // The session store's Redis connection (session_store type: redis), else null: global
  // counters (rate limits) share it.
  std::shared_ptr<redis_client> redis = nullptr;
  // Where filters count what they do (rate-limit rejections, breaker states, audit records);
  // null in unit tests that do not look.
  metrics* stats = nullptr;
  // Set when the process runs several workers, each with its own filter chain: what must hold
  // for the whole process (the audit log's file and chain, rate limits) lives here, keyed by
  // the filter's factory. Null: one worker, nothing to share.
  filter_shared_state* shared = nullptr;
};

// A filter's parsed configuration: made once by the plugin's config parser, immutable, and
// the factory of the filter.
class filter_factory {
 public:
  virtual ~filter_factory() = default;
  // Cross-checks with the rest of the configuration (tenants, routes), reported at
  // --check-config: "file:line: key: message" errors.
  virtual void check(const gateway_config& config, std::vector<config_error>& errors) const {
    (void)config;
    (void)errors;
  }
  virtual std::unique_ptr<filter> create(const filter_services& services) const = 0;
};

namespace config_detail {
class parser;
struct field;
}  // namespace config_detail

// The plugins a build knows: `filters:` keys and their config parsers. Filled explicitly by
// plugins/builtin.cc (no static self-registration), read by the config parser.
class filter_registry {
 public:
  // Reads the filter's settings (`at` is the value under its key), reporting problems through
  // `p` with line numbers; returns null after reporting.
  using parse_fn = std::function<std::shared_ptr<const filter_factory>(
      config_detail::parser& p, const config_detail::field& at)>;

  void add(std::string name, parse_fn parse) {
    parsers_.insert_or_assign(std::move(name), std::move(parse));
  }
  const parse_fn* find(std::string_view name) const {
    auto it = parsers_.find(name);
    return it == parsers_.end() ? nullptr : &it->second;
  }
  std::vector<std::string_view> names() const {
    std::vector<std::string_view> out;
    for (const auto& [name, parse] : parsers_) {
      out.push_back(name);
    }
    return out;
  }

 private:
  std::map<std::string, parse_fn, std::less<>> parsers_;
};

}  // namespace mcpgw
