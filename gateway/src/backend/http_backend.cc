#include "backend/http_backend.h"

#include "http/field_lookup.h"
#include "http/read_header.h"
#include "mcpgw/http_headers.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <sys/socket.h>
#include <tuple>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

bool is_timeout(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == net::error::timed_out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// backend_exchange

backend_exchange::backend_exchange(http_backend& backend, std::unique_ptr<pooled_connection> conn,
                                   std::chrono::steady_clock::time_point deadline, bool streaming)
    : backend_(backend),
      pool_(backend.pool_),
      conn_(std::move(conn)),
      deadline_(deadline),
      hard_deadline_(streaming
                         ? std::chrono::steady_clock::time_point::max()
                         : std::chrono::steady_clock::now() + backend.limits_.max_call_duration),
      streaming_(streaming),
      sse_(backend.max_message()) {
  parser_.body_limit(boost::none);
  parser_.header_limit(64 * 1024);
  deadline_ = std::min(deadline_, hard_deadline_);
}

backend_exchange::~backend_exchange() {
  const bool reusable = simple_ ? simple_->keep_alive : parser_.is_done() && parser_.keep_alive();
  if (conn_ && reusable && failure_ == backend_failure::none) {
    if (auto pool = pool_.lock()) {
      pool->release(std::move(conn_));
    }
  }
}

std::string_view backend_exchange::header(http::field f) const {
  return simple_ ? simple_->field(http::to_string(f))
                 : http_lookup::value_of(parser_.get().base(), f);
}

std::string_view backend_exchange::header(std::string_view name) const {
  return simple_ ? simple_->field(name) : http_lookup::value_of(parser_.get().base(), name);
}

bool backend_exchange::is_sse() const {
  std::string_view ct = header(http::field::content_type);
  return http_headers::iequals(ct.substr(0, ct.find(';')), "text/event-stream");
}

bool backend_exchange::is_json() const {
  return http_headers::is_json_content_type(header(http::field::content_type));
}

void backend_exchange::cancel() {
  if (conn_) {
    conn_->stream.tcp().cancel();
    // A read waiting in the readiness set ends now; one woken in the same batch but not yet
    // resumed sees cancelled_ before it would wait again. Through the slot's owner: at
    // shutdown an exchange may outlive its backend.
    cancelled_ = true;
    if (conn_->read.owner != nullptr) {
      conn_->read.owner->cancel(conn_->read);
    }
    failure_ = backend_failure::unavailable;
  }
}

net::awaitable<backend_failure> backend_exchange::read_some(std::size_t& got) {
  got = 0;
  if (failure_ != backend_failure::none) {
    co_return failure_;
  }
  auto& body = parser_.get().body();
  body.data = conn_->chunk.data();
  body.size = conn_->chunk.size();
  // What the last read already brought (the body after the header, usually all of it) is
  // parsed here: Beast's read would parse it too, but as an asynchronous operation.
  boost::system::error_code ec;
  bool parsed_now = false;
  if (conn_->buffer.size() != 0) {
    const std::size_t used = parser_.put(conn_->buffer.data(), ec);
    conn_->buffer.consume(used);
    parsed_now = ec != http::error::need_more;
    if (!parsed_now) {
      ec = {};
    }
  }
  if (!parsed_now) {
    // One read, then the parser fed in place: what Beast's read_some does, without its
    // composed operations. Plain TCP reads through the readiness set (no recv() that finds
    // nothing yet, http/read_readiness.h) under the same deadline; TLS reads on the stream,
    // whose timer keeps the deadline.
    boost::system::error_code rec;
    if (conn_->read.watched) {
      rec = co_await conn_->read.owner->read_some(
          conn_->read, conn_->stream.tcp().socket().native_handle(), conn_->buffer,
          streaming_ ? std::chrono::steady_clock::time_point::max() : deadline_, &cancelled_);
    } else {
      if (streaming_) {
        conn_->stream.tcp().expires_never();
      } else {
        conn_->stream.tcp().expires_at(deadline_);
      }
      auto [sec, n] = co_await conn_->stream.async_read_some(
          conn_->buffer.prepare(beast::read_size(conn_->buffer, 65536)), tuple_awaitable);
      conn_->buffer.commit(n);
      rec = sec;
    }
    if (rec == net::error::eof) {
      if (parser_.got_some()) {
        parser_.put_eof(ec);  // a body delimited by the close ends here
      } else {
        ec = http::error::end_of_stream;
      }
    } else if (rec) {
      ec = rec;
    } else {
      const std::size_t used = parser_.put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
      }
    }
  }
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  got = conn_->chunk.size() - body.size;
  if (cancelled_) {
    co_return failure_;  // unavailable, whatever the read ended with
  }
  if (ec) {
    // A connection closed mid-body is the backend going away, not bad HTTP.
    failure_ = is_timeout(ec) ? backend_failure::timeout
               : ec != http::error::partial_message &&
                       (ec == http::error::body_limit ||
                        ec.category() == http::make_error_code(http::error::bad_target).category())
                   ? backend_failure::protocol
                   : backend_failure::unavailable;
  }
  co_return failure_;
}

net::awaitable<backend_failure> backend_exchange::read_body(std::string& out) {
  out.clear();
  if (simple_) {
    out.swap(simple_->body);  // read with the header, and within max_message
    co_return failure_;
  }
  while (!parser_.is_done()) {
    std::size_t got = 0;
    backend_failure f = co_await read_some(got);
    out.append(conn_->chunk.data(), got);
    if (f != backend_failure::none) {
      co_return f;
    }
    if (out.size() > backend_.max_message()) {
      failure_ = backend_failure::protocol;
      co_return failure_;
    }
  }
  co_return backend_failure::none;
}

net::awaitable<event_status> backend_exchange::next_event(sse::event& out) {
  if (simple_ && !simple_fed_) {
    sse_.feed(simple_->body);
    simple_fed_ = true;
  }
  while (true) {
    switch (sse_.next(out)) {
      case sse::decode_status::event_ready:
        // http.timeout bounds the silence between events, not the whole stream: a long tool
        // call that reports progress is alive.
        deadline_ = std::min(std::chrono::steady_clock::now() + backend_.config().http.timeout,
                             hard_deadline_);
        co_return event_status::event;
      case sse::decode_status::too_large:
        failure_ = backend_failure::protocol;
        co_return event_status::failed;
      case sse::decode_status::need_more:
        break;
    }
    if (report_comments_ && sse_.comments() != comments_seen_) {
      comments_seen_ = sse_.comments();
      out = sse::event{};
      out.type = ":";
      co_return event_status::event;
    }
    if (simple_ || parser_.is_done()) {
      co_return event_status::end;
    }
    std::size_t got = 0;
    backend_failure f = co_await read_some(got);
    sse_.feed(std::string_view(conn_->chunk.data(), got));
    if (f != backend_failure::none) {
      // Deliver what was complete before the failure, then report it.
      if (sse_.next(out) == sse::decode_status::event_ready) {
        co_return event_status::event;
      }
      co_return event_status::failed;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// http_backend

http_backend::http_backend(net::any_io_executor ex, const backend_config& config,
                           const limits_config& limits, logger& log)
    : ex_(std::move(ex)), config_(config), limits_(limits), log_(log) {
  pool_->max_idle = config_.http.max_idle_connections;
  prepare_credentials();
  auto url = boost::urls::parse_uri(config_.http.url);
  if (!url) {
    throw std::runtime_error("backend " + config_.name + ": bad url " + config_.http.url);
  }
  tls_ = url->scheme() == "https";
  host_ = std::string(url->host_address());
  port_ = url->has_port() ? std::string(url->port()) : (tls_ ? "443" : "80");
  // Built with push_back: GCC 12 at -O3 warns falsely (-Wrestrict) on assigning a literal here.
  target_ = std::string(url->encoded_path());
  if (target_.empty()) {
    target_.push_back('/');
  }
  if (url->has_query()) {
    target_.push_back('?');
    target_.append(url->encoded_query());
  }
  boost::system::error_code literal_error;
  auto address = net::ip::make_address(host_, literal_error);
  if (!literal_error) {
    literal_.emplace(address, static_cast<unsigned short>(std::stoul(port_)));
  }
  std::string_view host_text = url->encoded_host_and_port();
  host_header_ = std::string(host_text);
  post_head_ =
      "POST " + target_ + " HTTP/1.1\r\nHost: " + host_header_ + "\r\nUser-Agent: mcpgw/0.1\r\n";
  if (tls_) {
    tls_ctx_.emplace(net::ssl::context::tls_client);
    tls_ctx_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                          net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                          net::ssl::context::no_tlsv1_1);
    if (config_.http.tls_verify) {
      tls_ctx_->set_verify_mode(net::ssl::verify_peer);
      tls_ctx_->set_default_verify_paths();
      if (!config_.http.ca_file.empty()) {
        tls_ctx_->load_verify_file(config_.http.ca_file);
      }
      tls_ctx_->set_verify_callback(net::ssl::host_name_verification(host_));
    } else {
      tls_ctx_->set_verify_mode(net::ssl::verify_none);
    }
  }
}

http_backend::~http_backend() = default;

void http_backend::prepare_credentials() {
  auto lines = [](const std::vector<credential_header>& headers) {
    std::string out;
    for (const auto& h : headers) {
      out += h.name + ": " + h.value + "\r\n";
    }
    return out;
  };
  credential_lines_ = lines(config_.http.headers);
  for (const auto& [tenant, own] : config_.http.tenant_headers) {
    std::vector<credential_header> merged = own;
    for (const auto& h : config_.http.headers) {
      auto same = [&](const credential_header& o) { return http_headers::iequals(o.name, h.name); };
      if (std::none_of(own.begin(), own.end(), same)) {
        merged.push_back(h);
      }
    }
    tenant_credential_lines_.emplace(tenant, lines(merged));
  }
}

void http_backend::build_head(const backend_request& request, std::string& out) const {
  using namespace std::string_view_literals;  // no strlen per piece
  auto tenant_lines = request.tenant.empty() ? tenant_credential_lines_.end()
                                             : tenant_credential_lines_.find(request.tenant);
  // The gateway's own credentials for this backend: what the client sent never goes on.
  const std::string_view credentials =
      tenant_lines == tenant_credential_lines_.end() ? credential_lines_ : tenant_lines->second;
  out.reserve(out.size() + post_head_.size() + request.target.size() + credentials.size() +
              request.extra_headers.size() + request.accept.size() + request.session_id.size() +
              request.protocol_version.size() + request.last_event_id.size() +
              request.traceparent.size() + request.tracestate.size() + 256);
  if (request.method == http::verb::post && request.target.empty()) {
    out += post_head_;  // the request line, Host and User-Agent of nearly every request
  } else {
    out += request.method == http::verb::get       ? "GET "sv
           : request.method == http::verb::delete_ ? "DELETE "sv
                                                   : "POST "sv;
    out += request.target.empty() ? std::string_view(target_) : request.target;
    out += " HTTP/1.1\r\nHost: "sv;
    out += host_header_;
    out += "\r\nUser-Agent: mcpgw/0.1\r\n"sv;
  }
  out += credentials;
  out += request.extra_headers;
  // "<name>: <value>\r\n" when there is a value.
  const auto field = [&out](std::string_view name_colon, std::string_view value) {
    if (!value.empty()) {
      out += name_colon;
      out += value;
      out += "\r\n"sv;
    }
  };
  if (!request.traceparent.empty()) {
    field("traceparent: "sv, request.traceparent);
    field("tracestate: "sv, request.tracestate);
  }
  if (!request.accept.empty()) {
    field("Accept: "sv, request.accept);
  } else if (request.method == http::verb::get) {
    out += "Accept: text/event-stream\r\n"sv;
  } else {
    out += "Accept: application/json, text/event-stream\r\n"sv;
  }
  field("Mcp-Session-Id: "sv, request.session_id);
  field("MCP-Protocol-Version: "sv, request.protocol_version);
  field("Last-Event-ID: "sv, request.last_event_id);
  if (request.method == http::verb::post) {
    out += "Content-Type: application/json\r\nContent-Length: "sv;
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, request.body.size()).ptr);
    out += "\r\n"sv;
  }
  out += "\r\n"sv;  // the blank line; a POST's body follows it
}

net::awaitable<std::pair<backend_failure, std::unique_ptr<pooled_connection>>>
http_backend::connect(std::chrono::steady_clock::time_point deadline) {
  auto connect_deadline =
      std::min(deadline, std::chrono::steady_clock::now() + config_.http.connect_timeout);
  beast::tcp_stream tcp(ex_);
  tcp.expires_at(connect_deadline);
  boost::system::error_code cec;
  if (literal_) {
    // An IP address needs no look-up (and no trip through the resolver's thread).
    std::tie(cec) = co_await tcp.async_connect(*literal_, tuple_awaitable);
  } else {
    net::ip::tcp::resolver resolver(ex_);
    auto [rec, endpoints] = co_await resolver.async_resolve(host_, port_, tuple_awaitable);
    if (rec) {
      log_.warn("backend name resolution failed",
                {{"backend", config_.name}, {"host", host_}, {"error", rec.message()}});
      co_return std::pair{backend_failure::unavailable, nullptr};
    }
    net::ip::tcp::endpoint ignored;
    std::tie(cec, ignored) = co_await tcp.async_connect(endpoints, tuple_awaitable);
  }
  if (cec) {
    co_return std::pair{is_timeout(cec) ? backend_failure::timeout : backend_failure::unavailable,
                        nullptr};
  }
  tcp.socket().set_option(net::ip::tcp::no_delay(true));
  if (!tls_) {
    auto conn = std::make_unique<pooled_connection>(any_stream(std::move(tcp)));
    readiness_.add(conn->read, conn->stream.tcp().socket().native_handle());
    co_return std::pair{backend_failure::none, std::move(conn)};
  }
  auto conn = std::make_unique<pooled_connection>(any_stream(std::move(tcp), *tls_ctx_));
  // SNI; SSL_set_tlsext_host_name is a macro with an old-style cast.
  if (SSL_ctrl(conn->stream.tls().native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
               TLSEXT_NAMETYPE_host_name, const_cast<char*>(host_.c_str())) != 1) {
    co_return std::pair{backend_failure::unavailable, nullptr};
  }
  auto [hec] =
      co_await conn->stream.tls().async_handshake(net::ssl::stream_base::client, tuple_awaitable);
  if (hec) {
    log_.warn("backend TLS handshake failed",
              {{"backend", config_.name}, {"error", hec.message()}});
    co_return std::pair{is_timeout(hec) ? backend_failure::timeout : backend_failure::unavailable,
                        nullptr};
  }
  co_return std::pair{backend_failure::none, std::move(conn)};
}

void connection_pool::release(std::unique_ptr<pooled_connection> conn) {
  if (idle.size() >= max_idle) {
    return;  // closes it
  }
  conn->stream.tcp().expires_never();
  conn->idle_since = std::chrono::steady_clock::now();
  idle.push_back(std::move(conn));
}

pooled_connection::~pooled_connection() {
  if (read.owner != nullptr) {
    read.owner->remove(read, stream.tcp().socket().native_handle());
  }
}

bool http_backend::still_open(pooled_connection& conn) {
  if (conn.buffer.size() != 0) {
    return false;  // bytes after the last response: the connection is out of step
  }
  // Backends close idle connections after seconds, not milliseconds: a connection idle for
  // less than this is taken as open, which keeps a system call off the busy path.
  if (std::chrono::steady_clock::now() - conn.idle_since < std::chrono::seconds(1)) {
    return true;
  }
  char byte = 0;
  ssize_t got =
      ::recv(conn.stream.tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool http_backend::retryable(std::string_view method) const {
  return method == "initialize" || method == "ping" || method == "tools/list" ||
         method == "prompts/list" || method == "resources/list" ||
         method == "resources/templates/list" ||
         (method == "tools/call" && config_.http.retry_tools_call);
}

net::awaitable<std::pair<backend_failure, std::unique_ptr<backend_exchange>>> http_backend::send(
    const backend_request& request) {
  const std::size_t attempts = retryable(request.mcp_method) ? config_.http.retry_attempts : 1;
  duration backoff = config_.http.retry_backoff;
  for (std::size_t attempt = 1;; ++attempt) {
    auto result = co_await send_once(request);
    const bool overloaded =
        result.second && (result.second->status() == 502 || result.second->status() == 503 ||
                          result.second->status() == 504);
    // A timeout is not retried: the backend may still be working on it, and the client has
    // waited a whole deadline already.
    if (attempt >= attempts || !(result.first == backend_failure::unavailable || overloaded)) {
      co_return result;
    }
    result.second.reset();
    // Full jitter between half the back-off and all of it, so retries do not arrive in waves.
    const auto half = backoff.count() / 2;
    const auto wait =
        duration(half + static_cast<long long>(jitter_() % static_cast<unsigned long>(half + 1)));
    log_.debug("retrying backend request", {{"backend", name()},
                                            {"method", request.mcp_method},
                                            {"attempt", std::to_string(attempt + 1)}});
    net::steady_timer timer(ex_);
    timer.expires_after(wait);
    co_await timer.async_wait(tuple_awaitable);
    backoff = std::min<duration>(backoff * 2, std::chrono::seconds(5));
  }
}

net::awaitable<std::pair<backend_failure, std::unique_ptr<backend_exchange>>>
http_backend::send_once(const backend_request& request) {
  const auto now = std::chrono::steady_clock::now();
  // A call's answer (its header too) within limits.max_call_duration; a long-lived GET stream
  // has none past its header.
  auto deadline = request.stream
                      ? now + config_.http.timeout
                      : std::min(now + config_.http.timeout, now + limits_.max_call_duration);
  const std::string_view body =
      request.method == http::verb::post ? request.body : std::string_view();
  // Idle connections the backend closed are skipped before use. After that, a request is
  // sent once more only when writing it failed on a reused connection (the backend cannot
  // have read it); once written, it is never repeated: a tools/call must not run twice.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<pooled_connection> conn;
    bool reused = false;
    while (!pool_->idle.empty() && !conn) {
      conn = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      if (!still_open(*conn)) {
        conn.reset();
      }
    }
    if (conn) {
      reused = true;
    } else {
      auto [failure, fresh] = co_await connect(deadline);
      if (failure != backend_failure::none) {
        co_return std::pair{failure, nullptr};
      }
      conn = std::move(fresh);
    }
    // Most requests fit in the socket's buffer: written at once, head and body in one
    // gather write, without an asynchronous operation; the rest (or all of it through TLS)
    // asynchronously, under the deadline. The head is built here, after the last suspension
    // before the write, in a buffer every send on this thread reuses; what of it is left for
    // the asynchronous write is copied first. The body stays the caller's.
    thread_local std::string shared_head;
    shared_head.clear();
    build_head(request, shared_head);
    boost::system::error_code wec;
    const std::array<net::const_buffer, 2> parts{net::buffer(shared_head), net::buffer(body)};
    const std::size_t now_written = conn->stream.write_now(parts, wec);
    if (!wec && now_written < shared_head.size() + body.size()) {
      const std::size_t head_written = std::min(now_written, shared_head.size());
      const std::string head_rest = shared_head.substr(head_written);
      const std::array<net::const_buffer, 2> rest{
          net::buffer(head_rest), net::buffer(body.substr(now_written - head_written))};
      conn->stream.tcp().expires_at(deadline);
      auto [aec, written] = co_await net::async_write(conn->stream, rest, tuple_awaitable);
      wec = aec;
    }
    if (wec) {
      if (reused && !is_timeout(wec)) {
        continue;
      }
      co_return std::pair{is_timeout(wec) ? backend_failure::timeout : backend_failure::unavailable,
                          nullptr};
    }
    auto exchange =
        std::make_unique<backend_exchange>(*this, std::move(conn), deadline, request.stream);
    auto& c = *exchange->conn_;
    c.stream.tcp().expires_at(deadline);  // the header has the request's deadline
    boost::system::error_code rec;
    if (c.buffer.size() == 0) {
      if (c.read.watched) {
        // Plain TCP: no recv() that finds nothing yet (http/read_readiness.h).
        rec = co_await readiness_.read_some(c.read, c.stream.tcp().socket().native_handle(),
                                            c.buffer, deadline);
      } else {
        auto [ec, n] = co_await c.stream.async_read_some(
            c.buffer.prepare(beast::read_size(c.buffer, 65536)), tuple_awaitable);
        c.buffer.commit(n);
        rec = ec;
      }
      if (rec == net::error::eof) {
        rec = http::error::end_of_stream;
      }
    }
    if (!rec) {
      // A JSON answer usually comes whole with that first read: taken at once. Anything else
      // (an SSE stream, a chunked body, a part still coming) is Beast's, from the start.
      // Parsed in place, into the connection's response object: its fields are views into
      // its own copy of the head, whose buffer the connection's previous answer left.
      simple_response& simple = c.response;
      std::size_t used = 0;
      const std::string_view data(static_cast<const char*>(c.buffer.data().data()),
                                  c.buffer.size());
      if (parse_simple_response(data, max_message(), simple, used) == simple_parse::parsed) {
        c.buffer.consume(used);
        exchange->simple_ = &simple;
        co_return std::pair{backend_failure::none, std::move(exchange)};
      }
      rec = co_await read_header(c.stream, c.buffer, exchange->parser_);
    }
    if (rec) {
      exchange->failure_ = backend_failure::unavailable;
      co_return std::pair{is_timeout(rec) ? backend_failure::timeout : backend_failure::unavailable,
                          nullptr};
    }
    co_return std::pair{backend_failure::none, std::move(exchange)};
  }
  co_return std::pair{backend_failure::unavailable, nullptr};
}

}  // namespace mcpgw
