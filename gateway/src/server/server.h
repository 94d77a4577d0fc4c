// The gateway process's network side: the MCP listener (optionally TLS), the admin listener
// (/healthz, /readyz), the connection loops with their limits and deadlines, and the
// two-stage shutdown (stop accepting and drain, then stop). Created and driven by main.
#pragma once

#include "cluster/cluster.h"
#include "filter/filter_chain.h"

#include "backend/backend_group.h"
#include "backend/http_backend.h"
#include "backend/stdio_backend.h"
#include "http/read_readiness.h"
#include "http/responder.h"
#include "mcp/streamable_http.h"
#include "mcpgw/config.h"
#include "mcpgw/log.h"
#include "mcpgw/metrics.h"
#include "server/workers.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw {

class gateway_server {
 public:
  // `chain`: the configured filters (null: none); they also serve their discovery documents.
  // `store`: where sessions are recorded (null: a memory store); `redis`: the connection the
  // store and the filters share (null without a Redis store), closed when the server stops.
  gateway_server(net::io_context& ioc, const gateway_config& config, logger& log,
                 std::shared_ptr<const filter_chain> chain = nullptr,
                 std::shared_ptr<session_store> store = nullptr,
                 std::shared_ptr<redis_client> redis = nullptr, metrics* stats = nullptr);
  ~gateway_server();

  // One of several workers (server/workers.h): `index` among `all` (this one included, in
  // index order), each on its own io_context. Call before start(); `shared` outlives them.
  void join_workers(std::size_t index, std::vector<gateway_server*> all, workers::shared& shared);

  // Binds both listeners (throws std::runtime_error naming the address on failure), starts
  // accepting and logs one "listening" line with the bound addresses. A worker other than the
  // first accepts on the first worker's client listener (a duplicate of its descriptor: the
  // kernel gives each connection to one of them) and has no admin listener; the first must
  // have started.
  void start();
  // Stops accepting, lets in-flight requests finish within shutdown_grace, then stops the
  // io_context. Safe to call more than once.
  void stop();

  net::ip::tcp::endpoint listen_endpoint() const { return listen_endpoint_; }
  net::ip::tcp::endpoint admin_endpoint() const { return admin_endpoint_; }

 private:
  struct connection_entry {
    any_stream* stream = nullptr;
    connection_state state = connection_state::idle;
    // Until its first request is read: not a keep-alive connection, so a drain does not close
    // it as idle (a probe of /readyz that connects while the gateway drains gets its answer).
    bool awaiting_first = true;
    // The deadline of the header read in progress (plain TCP; max: none), and whether the
    // sweep cancelled that read because it passed.
    std::chrono::steady_clock::time_point read_deadline =
        std::chrono::steady_clock::time_point::max();
    bool read_expired = false;
    // The socket's read readiness (not watched on TLS, or when the kernel refused: read as
    // Asio reads).
    read_readiness::slot read;
  };

  // Which listener a connection came in on.
  enum class listener_kind { client, admin, cluster };
  // A plain-TCP connection on its way to the worker that holds the session its request names:
  // the descriptor, the request read (not handled yet) and the bytes read after it. Closes the
  // descriptor if it never arrives (that worker stopped first).
  struct handed_connection {
    int fd = -1;
    net::ip::tcp protocol = net::ip::tcp::v4();
    listener_kind kind = listener_kind::client;
    std::string unread;
    client_request request;
    handed_connection() = default;
    handed_connection(const handed_connection&) = delete;
    handed_connection& operator=(const handed_connection&) = delete;
    ~handed_connection();
  };
  net::awaitable<void> accept_loop(net::ip::tcp::acceptor& acceptor, listener_kind kind);
  // Room for one more connection under limits.max_connections (across all workers; counted
  // then, and uncounted when it closes).
  bool count_connection();
  // `incoming`: a connection another worker handed over (its socket is `socket`).
  net::awaitable<void> run_connection(net::ip::tcp::socket socket, listener_kind kind,
                                      std::unique_ptr<handed_connection> incoming = nullptr);
  // Serves the connection's requests until it ends, or until a request names a session of
  // another worker: `outgoing` then holds that request, and `to` that worker.
  net::awaitable<void> serve(any_stream& stream, listener_kind kind, connection_entry& entry,
                             std::unique_ptr<handed_connection>& incoming,
                             std::unique_ptr<handed_connection>& outgoing, std::size_t& to);
  // The worker that holds the session `req` names (Mcp-Session-Id, or the legacy transport's
  // sessionId); this one when it names none.
  std::size_t owner_of(const client_request& req) const;
  // On this worker's thread: serves a connection another worker handed over.
  void take_connection(std::unique_ptr<handed_connection> c);
  // The connection's next request: on plain TCP the common one parsed at once from what one
  // read brought (http/simple_http.h), anything else (and everything on TLS) by Beast's
  // parser, into `req` (the connection's, reused: its buffers keep their capacity). false:
  // the connection ends (closed, timed out, or answered here as unreadable).
  net::awaitable<bool> next_request(any_stream& stream, beast::flat_buffer& buffer,
                                    connection_entry& entry, duration header_timeout,
                                    client_request& req);
  // next_request's way for everything but a whole plain-TCP request: Beast's parser, TLS,
  // Expect: 100-continue, bodies that need more reads. A coroutine of its own, so that
  // next_request's frame stays small enough for Asio to recycle (its parser is large).
  net::awaitable<bool> parse_request(any_stream& stream, beast::flat_buffer& buffer,
                                     connection_entry& entry, duration header_timeout,
                                     client_request& req);
  // A request another replica forwarded (cluster listener): its secret and principal checked.
  net::awaitable<void> handle_forwarded(client_request& req, responder& res, std::string_view path);
  net::awaitable<void> handle_admin(client_request& req, responder& res);
  net::awaitable<void> send_readiness(responder& res);
  // Several workers: every worker's scrape hooks on its own thread, then one exposition.
  net::awaitable<std::string> scrape_workers();
  // The request's X-Request-Id (the client's when valid, else minted and set on the request)
  // and trace headers, for its responder.
  trace::carried tag_request(client_request& req);
  // Scrape hooks for what is read rather than counted (sessions, processes, replicas).
  void register_gauges();
  // Traffic counters of one route (or of requests that matched none: "other").
  // Bytes are counted in plain integers and folded into the counters at each scrape.
  struct route_traffic {
    std::string path;
    prometheus::Counter* received_total = nullptr;
    prometheus::Counter* sent_total = nullptr;
    std::uint64_t received = 0;  // since the last scrape
    std::uint64_t sent = 0;
    response_traffic response;
  };
  route_traffic* traffic_of(std::string_view path);
  net::awaitable<void> serve_document(client_request& req, responder& res,
                                      const filter::endpoint& document);
  // Answers a request that cannot be read (413, 431, 400) before the connection closes.
  net::awaitable<void> reject_request(any_stream& stream, connection_entry& entry,
                                      boost::system::error_code ec);
  net::awaitable<void> drain();
  // Closes a keep-alive connection that waits for its next request (stop and drain); false
  // when it is busy or has not had its first request yet.
  bool close_if_idle(connection_entry& c);
  // Header reads on plain TCP have their deadlines enforced here, by one timer for all
  // connections that wakes at the earliest deadline, instead of a timer armed and cancelled on
  // every read. watch_read starts a read's deadline.
  void watch_read(connection_entry& entry, duration timeout);
  net::awaitable<void> sweep_read_deadlines();
  // stdio processes still running (warm, leased or stopping).
  std::size_t stdio_processes() const;
  net::ip::tcp::acceptor bind(const host_port& where, const char* what);

  net::io_context& ioc_;
  const gateway_config& config_;
  std::size_t worker_index_ = 0;
  std::vector<gateway_server*> workers_;  // empty: the only worker
  workers::shared* shared_ = nullptr;
  logger& log_;
  std::optional<net::ssl::context> tls_;
  std::vector<std::unique_ptr<backend_group>> backends_;  // http and sse backends
  std::vector<std::unique_ptr<stdio_backend>> stdio_backends_;
  std::vector<std::unique_ptr<aggregate::route_state>> aggregates_;  // aggregated routes
  std::vector<route_binding> routes_;
  std::vector<filter::endpoint> filter_endpoints_;
  std::shared_ptr<const filter_chain> chain_;
  std::shared_ptr<redis_client> redis_;
  streamable_http_endpoint endpoint_;
  std::optional<net::ip::tcp::acceptor> acceptor_;
  std::optional<net::ip::tcp::acceptor> admin_acceptor_;
  std::optional<net::ip::tcp::acceptor> cluster_acceptor_;
  std::unique_ptr<cluster::peers> cluster_;
  net::ip::tcp::endpoint listen_endpoint_;
  net::ip::tcp::endpoint admin_endpoint_;
  std::list<connection_entry> connections_;
  read_readiness& readiness_;  // the io_context's
  net::steady_timer sweep_timer_;
  std::chrono::steady_clock::time_point sweep_at_ = std::chrono::steady_clock::time_point::max();
  bool sweep_stopped_ = false;
  bool draining_ = false;
  bool scraping_ = false;  // scrape_workers() in progress
  prometheus::Counter* handovers_ = nullptr;
  metrics* stats_ = nullptr;
  std::vector<route_traffic> traffic_;  // one per route path, then "other"
  trace::id_source request_ids_;
};

}  // namespace mcpgw
