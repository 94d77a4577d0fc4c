// mcpgw-demo-backend: a small, fast Streamable HTTP MCP server with one `echo` tool. It is
// the backend the default config points to and the echo backend of bench/load, so the POST
// path avoids per-request allocations; the MCP logic itself lives in demo_rpc.{h,cc}.

#include "demo_request.h"
#include "demo_rpc.h"

// GCC 12 at -O3 reports a false "potential null pointer dereference" inside Asio's
// any_io_executor comparison; it is not ours to fix, and -Werror builds must pass.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#pragma GCC diagnostic pop

#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <variant>

namespace mcpgw::demo {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

// Expected failures (a client hanging up) come back as values, not exceptions.
constexpr auto use_nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3311;
  bool sse = false;                       // answer POSTs with text/event-stream
  bool stdio = false;                     // one MCP session on stdin/stdout instead of HTTP
  std::chrono::seconds keepalive{15};     // comment interval on GET streams
  std::chrono::seconds idle_timeout{60};  // deadline for any read or write
  std::size_t max_connections = 10'000;
  std::size_t max_sessions = 100'000;
  std::uint64_t max_body = 1024 * 1024;
  std::uint32_t max_header = 16 * 1024;
};

void append_number(std::string& out, std::size_t value) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out.append(buf.data(), end);
}

enum class after_response { keep_alive, close };
enum class framing { plain, sse_event };

class server;

// One client connection: requests are served one at a time (pipelined ones wait in the read
// buffer). A GET turns it into an SSE stream until the client leaves or the session ends.
class connection final : public session_listener {
 public:
  connection(server& srv, tcp::socket socket);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  asio::awaitable<void> run();
  // Ends the connection from outside (shutdown, idle deadline); run() then returns.
  void close();
  bool idle_since_before(clock_type::time_point t) const { return last_activity_ < t; }

 private:
  void on_session_closed() override;
  asio::awaitable<after_response> serve(bool keep_alive);
  asio::awaitable<after_response> serve_post(bool keep_alive);
  asio::awaitable<after_response> serve_get(bool keep_alive);
  asio::awaitable<after_response> serve_delete(bool keep_alive);
  // Sends head_ (status line and headers so far) plus the body, as is or as one SSE event.
  asio::awaitable<after_response> send(bool keep_alive, std::string_view content_type,
                                       std::string_view body, framing frame = framing::plain);
  void begin_head(std::string_view status_line);
  auto write(std::string_view bytes) {
    return asio::async_write(socket_, asio::buffer(bytes), use_nothrow_awaitable);
  }
  std::optional<std::string_view> session_header() const;

  server& server_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  request_info request_;
  std::string head_;
  std::string body_;
  asio::steady_timer keepalive_timer_;
  clock_type::time_point last_activity_ = clock_type::now();
  bool stream_ended_ = false;
};

class server {
 public:
  server(asio::io_context& io, const options& opts)
      : io_{io},
        opts_{opts},
        acceptor_{io, tcp::endpoint{asio::ip::make_address(opts.host), opts.port}},
        sweep_timer_{io},
        sessions_{opts.max_sessions},
        rpc_{sessions_} {}

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  const options& opts() const { return opts_; }
  session_store& sessions() { return sessions_; }
  rpc_handler& rpc() { return rpc_; }
  void add(connection& c) { connections_.insert(&c); }
  void remove(connection& c) { connections_.erase(&c); }

  void start() {
    asio::co_spawn(io_, accept_loop(), rethrow);
    asio::co_spawn(io_, sweep_loop(), rethrow);
  }

  // Closing every socket completes every pending operation at once, so io_context::run()
  // returns without a separate grace period.
  void stop() {
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    sweep_timer_.cancel();
    for (connection* c : connections_) {
      c->close();
    }
  }

 private:
  // Tasks are owned by the server (stop() ends them); a bug surfaces from io_context::run().
  static void rethrow(const std::exception_ptr& e) {
    if (e) {
      std::rethrow_exception(e);
    }
  }

  static asio::awaitable<void> run_connection(server& srv, tcp::socket socket) {
    connection c{srv, std::move(socket)};
    co_await c.run();
  }

  asio::awaitable<void> accept_loop() {
    while (!stopping_) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow_awaitable);
      if (ec == asio::error::operation_aborted || stopping_) {
        break;
      }
      if (ec) {
        // Typically EMFILE: back off instead of spinning on the same error.
        asio::steady_timer pause{io_, std::chrono::milliseconds{100}};
        co_await pause.async_wait(use_nothrow_awaitable);
        continue;
      }
      if (connections_.size() >= opts_.max_connections) {
        continue;  // the socket closes as it goes out of scope
      }
      socket.set_option(tcp::no_delay{true}, ec);
      asio::co_spawn(io_, run_connection(*this, std::move(socket)), rethrow);
    }
  }

  // One timer for all deadlines, instead of arming a timer around every read and write.
  asio::awaitable<void> sweep_loop() {
    while (!stopping_) {
      sweep_timer_.expires_after(std::chrono::seconds{1});
      auto [ec] = co_await sweep_timer_.async_wait(use_nothrow_awaitable);
      if (ec) {
        break;
      }
      const auto cutoff = clock_type::now() - opts_.idle_timeout;
      for (connection* c : connections_) {
        if (c->idle_since_before(cutoff)) {
          c->close();  // completions are posted, so connections_ is not modified here
        }
      }
    }
  }

  asio::io_context& io_;
  const options& opts_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweep_timer_;
  session_store sessions_;
  rpc_handler rpc_;
  std::unordered_set<connection*> connections_;
  bool stopping_ = false;
};

connection::connection(server& srv, tcp::socket socket)
    : server_{srv},
      socket_{std::move(socket)},
      buffer_{srv.opts().max_header + srv.opts().max_body},
      keepalive_timer_{socket_.get_executor()} {
  // Reads of up to 16 KiB, as servers commonly make them (Node reads 64 KiB, Go's bufio 4 KiB).
  // Left alone, Beast reads 512 bytes at a time here: a request a few bytes past 512 took two
  // reads and two wake-ups, which a benchmark then charged to whoever sent it.
  buffer_.reserve(16 * 1024);
  server_.add(*this);
}

connection::~connection() { server_.remove(*this); }

void connection::close() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  keepalive_timer_.cancel();
}

void connection::on_session_closed() {
  stream_ended_ = true;
  keepalive_timer_.cancel();
}

asio::awaitable<void> connection::run() {
  for (;;) {
    last_activity_ = clock_type::now();
    request_parser parser{request_, server_.opts().max_body, server_.opts().max_header};
    auto [ec, n] = co_await http::async_read(socket_, buffer_, parser, use_nothrow_awaitable);
    if (ec == http::error::body_limit) {
      begin_head("HTTP/1.1 413 Payload Too Large\r\n");
      co_await send(false, "text/plain", "request body too large\n");
      break;
    }
    if (ec) {
      break;
    }
    last_activity_ = clock_type::now();
    if (co_await serve(parser.keep_alive()) == after_response::close) {
      break;
    }
  }
  close();
}

asio::awaitable<after_response> connection::serve(bool keep_alive) {
  const std::string_view target = request_.target;
  if (target.substr(0, target.find('?')) != "/mcp") {
    begin_head("HTTP/1.1 404 Not Found\r\n");
    co_return co_await send(keep_alive, "text/plain", "not found\n");
  }
  switch (request_.method) {
    case http::verb::post:
      co_return co_await serve_post(keep_alive);
    case http::verb::get:
      co_return co_await serve_get(keep_alive);
    case http::verb::delete_:
      co_return co_await serve_delete(keep_alive);
    default:
      begin_head("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, POST, DELETE\r\n");
      co_return co_await send(keep_alive, "text/plain", "method not allowed\n");
  }
}

std::optional<std::string_view> connection::session_header() const {
  if (!request_.has_session_id) {
    return std::nullopt;
  }
  return std::string_view{request_.session_id};
}

asio::awaitable<after_response> connection::serve_post(bool keep_alive) {
  constexpr std::string_view json = "application/json";
  const post_result result = server_.rpc().handle_post(request_.body, session_header(), body_);
  switch (result.outcome) {
    case post_outcome::response:
      begin_head("HTTP/1.1 200 OK\r\n");
      if (result.minted_session) {
        head_ += "Mcp-Session-Id: ";
        head_ += *result.minted_session;
        head_ += "\r\n";
      }
      if (server_.opts().sse) {
        head_ += "Cache-Control: no-cache\r\n";
        co_return co_await send(keep_alive, "text/event-stream", body_, framing::sse_event);
      }
      co_return co_await send(keep_alive, json, body_);
    case post_outcome::accepted:
      begin_head("HTTP/1.1 202 Accepted\r\n");
      co_return co_await send(keep_alive, {}, {});
    case post_outcome::bad_request:
    case post_outcome::session_missing:
      begin_head("HTTP/1.1 400 Bad Request\r\n");
      co_return co_await send(keep_alive, json, body_);
    case post_outcome::session_unknown:
      begin_head("HTTP/1.1 404 Not Found\r\n");
      co_return co_await send(keep_alive, json, body_);
    case post_outcome::unavailable:
      begin_head("HTTP/1.1 503 Service Unavailable\r\n");
      co_return co_await send(keep_alive, json, body_);
  }
  co_return after_response::close;
}

asio::awaitable<after_response> connection::serve_get(bool keep_alive) {
  using namespace asio::experimental::awaitable_operators;
  if (!request_.accepts_event_stream) {
    begin_head("HTTP/1.1 406 Not Acceptable\r\n");
    co_return co_await send(keep_alive, "text/plain", "GET needs Accept: text/event-stream\n");
  }
  if (!request_.has_session_id) {
    begin_head("HTTP/1.1 400 Bad Request\r\n");
    co_return co_await send(keep_alive, "text/plain", "missing Mcp-Session-Id\n");
  }
  if (request_.version < 11) {
    begin_head("HTTP/1.1 505 HTTP Version Not Supported\r\n");
    co_return co_await send(false, "text/plain", "GET streams need HTTP/1.1 (chunked)\n");
  }
  // A copy, so that the listener guard does not lean on request_, the per-request scratch.
  const std::string session_id = request_.session_id;
  if (!server_.sessions().add_listener(session_id, *this)) {
    begin_head("HTTP/1.1 404 Not Found\r\n");
    co_return co_await send(keep_alive, "text/plain", "session not found\n");
  }
  struct listener_guard {
    session_store& sessions;
    const std::string& id;
    connection& self;
    ~listener_guard() { sessions.remove_listener(id, self); }
  } guard{server_.sessions(), session_id, *this};

  stream_ended_ = false;
  // Chunked, so that when the session ends the stream ends and the connection stays usable.
  begin_head(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n");
  head_ += "Mcp-Session-Id: " + session_id + "\r\n\r\n";
  if (auto [ec, n] = co_await write(head_); ec) {
    co_return after_response::close;
  }
  for (;;) {
    if (stream_ended_) {
      auto [ec, n] = co_await write("0\r\n\r\n");
      co_return ec || !keep_alive ? after_response::close : after_response::keep_alive;
    }
    last_activity_ = clock_type::now();
    keepalive_timer_.expires_after(server_.opts().keepalive);
    // Waiting for readability notices a client that hangs up between keep-alives. A client
    // has nothing to send on a stream it has not finished reading, so data means close too.
    auto woke = co_await (keepalive_timer_.async_wait(use_nothrow_awaitable) ||
                          socket_.async_wait(tcp::socket::wait_read, use_nothrow_awaitable));
    if (woke.index() == 1) {
      co_return after_response::close;
    }
    if (stream_ended_) {
      continue;
    }
    if (std::get<0>(std::get<0>(woke)) != asio::error::operation_aborted) {
      constexpr std::string_view chunk = "d\r\n: keepalive\n\n\r\n";
      last_activity_ = clock_type::now();
      auto [ec, n] = co_await write(chunk);
      if (ec) {
        co_return after_response::close;
      }
    } else {
      co_return after_response::close;  // cancelled by close()
    }
  }
}

asio::awaitable<after_response> connection::serve_delete(bool keep_alive) {
  if (!request_.has_session_id) {
    begin_head("HTTP/1.1 400 Bad Request\r\n");
    co_return co_await send(keep_alive, "text/plain", "missing Mcp-Session-Id\n");
  }
  if (!server_.sessions().erase(request_.session_id)) {
    begin_head("HTTP/1.1 404 Not Found\r\n");
    co_return co_await send(keep_alive, "text/plain", "session not found\n");
  }
  begin_head("HTTP/1.1 200 OK\r\n");
  co_return co_await send(keep_alive, {}, {});
}

void connection::begin_head(std::string_view status_line) {
  head_.clear();
  head_ += status_line;
}

asio::awaitable<after_response> connection::send(bool keep_alive, std::string_view content_type,
                                                 std::string_view body, framing frame) {
  constexpr std::string_view event_prefix = "event: message\ndata: ";
  constexpr std::string_view event_suffix = "\n\n";
  const bool event = frame == framing::sse_event;
  const std::string_view prefix = event ? event_prefix : std::string_view{};
  const std::string_view suffix = event ? event_suffix : std::string_view{};
  if (!content_type.empty()) {
    head_ += "Content-Type: ";
    head_ += content_type;
    head_ += "\r\n";
  }
  head_ += "Content-Length: ";
  append_number(head_, prefix.size() + body.size() + suffix.size());
  // Keep-alive is the default in HTTP/1.1 only; an HTTP/1.0 client needs to be told.
  if (!keep_alive) {
    head_ += "\r\nConnection: close\r\n\r\n";
  } else if (request_.version < 11) {
    head_ += "\r\nConnection: keep-alive\r\n\r\n";
  } else {
    head_ += "\r\n\r\n";
  }
  const std::array<asio::const_buffer, 4> buffers{asio::buffer(head_), asio::buffer(prefix),
                                                  asio::buffer(body), asio::buffer(suffix)};
  last_activity_ = clock_type::now();
  auto [ec, n] = co_await asio::async_write(socket_, buffers, use_nothrow_awaitable);
  co_return ec || !keep_alive ? after_response::close : after_response::keep_alive;
}

[[noreturn]] void usage(int status) {
  std::fputs(
      "usage: mcpgw-demo-backend [--listen HOST:PORT] [--sse] [--keepalive-seconds N]\n"
      "                          [--idle-timeout-seconds N]\n"
      "       mcpgw-demo-backend --stdio\n"
      "  --listen   address to bind (default 127.0.0.1:3311; port 0 picks a free port)\n"
      "  --sse      answer POSTed requests with text/event-stream instead of JSON\n"
      "  --stdio    one MCP session on stdin/stdout (newline-delimited JSON-RPC)\n",
      status == 0 ? stdout : stderr);
  std::exit(status);
}

std::uint64_t parse_number(std::string_view s, std::uint64_t max) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value > max) {
    std::fprintf(stderr, "mcpgw-demo-backend: bad number '%.*s'\n", static_cast<int>(s.size()),
                 s.data());
    usage(2);
  }
  return value;
}

options parse_options(int argc, char** argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        usage(2);
      }
      return argv[++i];
    };
    if (arg == "--listen") {
      std::string_view listen = value();
      const auto colon = listen.rfind(':');
      if (colon == std::string_view::npos) {
        usage(2);
      }
      std::string_view host = listen.substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      opts.host = host;
      opts.port = static_cast<std::uint16_t>(parse_number(listen.substr(colon + 1), 65535));
    } else if (arg == "--sse") {
      opts.sse = true;
    } else if (arg == "--stdio") {
      opts.stdio = true;
    } else if (arg == "--keepalive-seconds") {
      opts.keepalive = std::chrono::seconds{parse_number(value(), 86400)};
    } else if (arg == "--idle-timeout-seconds") {
      opts.idle_timeout = std::chrono::seconds{parse_number(value(), 86400)};
    } else if (arg == "--help" || arg == "-h") {
      usage(0);
    } else {
      std::fprintf(stderr, "mcpgw-demo-backend: unknown option '%s'\n", argv[i]);
      usage(2);
    }
  }
  if (opts.keepalive >= opts.idle_timeout) {
    // The idle sweep would close GET streams between two keep-alive comments.
    std::fputs("mcpgw-demo-backend: the keep-alive interval must be below the idle timeout\n",
               stderr);
    usage(2);
  }
  return opts;
}

// The stdio transport: one session, one message per line each way, until stdin ends. The same
// answers as over HTTP (echo, ping, tools/list), for benchmarks of stdio bridges.
int run_stdio() {
  session_store sessions{1};
  rpc_handler handler{sessions};
  std::optional<std::string> session;
  std::string line;
  std::string body;
  std::string out;
  std::array<char, 64 * 1024> chunk{};
  std::string pending;
  for (;;) {
    const ssize_t got = ::read(STDIN_FILENO, chunk.data(), chunk.size());  // what is there
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return 0;  // stdin closed: the session is over
    }
    pending.append(chunk.data(), static_cast<std::size_t>(got));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      body.reserve(nl - start + rpc_handler::padding);
      body.assign(pending, start, nl - start);
      if (body.empty()) {
        continue;
      }
      const post_result r = handler.handle_post(body, session, out);
      if (r.minted_session) {
        session.emplace(*r.minted_session);
      }
      if (r.outcome != post_outcome::accepted && !out.empty()) {
        out += '\n';
        std::fwrite(out.data(), 1, out.size(), stdout);
      }
    }
    pending.erase(0, start);
    std::fflush(stdout);  // once per read: answers to a burst of requests go out together
  }
}

}  // namespace
}  // namespace mcpgw::demo

int main(int argc, char** argv) {
  using namespace mcpgw::demo;
  const options opts = parse_options(argc, argv);
  if (opts.stdio) {
    return run_stdio();
  }
  try {
    asio::io_context io{1};
    server srv{io, opts};
    asio::signal_set signals{io, SIGINT, SIGTERM};
    signals.async_wait([&srv](const error_code& ec, int) {
      if (!ec) {
        srv.stop();
      }
    });
    srv.start();
    const tcp::endpoint local = srv.local_endpoint();
    const std::string address = local.address().to_string();
    const bool v6 = local.address().is_v6();
    std::printf("listening http://%s%s%s:%u/mcp\n", v6 ? "[" : "", address.c_str(), v6 ? "]" : "",
                static_cast<unsigned>(local.port()));
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcpgw-demo-backend: %s\n", e.what());
    return 1;
  }
  return 0;
}
