#include "server/server.h"

#include "store/redis_client.h"

#include "http/query_param.h"
#include "mcpgw/jsonrpc.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <utility>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

std::string format_endpoint(const net::ip::tcp::endpoint& ep) {
  auto address = ep.address();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

gateway_server::gateway_server(net::io_context& ioc, const gateway_config& config, logger& log,
                               std::shared_ptr<const filter_chain> chain,
                               std::shared_ptr<session_store> store,
                               std::shared_ptr<redis_client> redis, metrics* stats)
    : ioc_(ioc),
      config_(config),
      log_(log),
      redis_(std::move(redis)),
      endpoint_(ioc.get_executor(), config, log, chain,
                store ? std::move(store) : std::make_shared<memory_session_store>()),
      readiness_(read_readiness::of(ioc.get_executor())),
      sweep_timer_(ioc),
      stats_(stats) {
  if (chain) {
    filter_endpoints_ = chain->endpoints();
  }
  chain_ = std::move(chain);
  if (config_.tls) {
    tls_.emplace(net::ssl::context::tls_server);
    tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                      net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
    boost::system::error_code ec;
    tls_->use_certificate_chain_file(config_.tls->cert, ec);
    if (ec) {
      throw std::runtime_error("tls.cert: cannot load certificate chain '" + config_.tls->cert +
                               "': " + ec.message());
    }
    tls_->use_private_key_file(config_.tls->key, net::ssl::context::pem, ec);
    if (ec) {
      throw std::runtime_error("tls.key: cannot load private key '" + config_.tls->key +
                               "': " + ec.message());
    }
  }
  for (const auto& b : config_.backends) {
    if (b.kind == backend_kind::stdio) {
      stdio_backends_.push_back(
          std::make_unique<stdio_backend>(ioc.get_executor(), b, config_.limits, log));
    } else {
      backends_.push_back(
          std::make_unique<backend_group>(ioc.get_executor(), b, config_.limits, log));
    }
  }
  if (config_.cluster && redis_) {
    cluster_ = std::make_unique<cluster::peers>(ioc.get_executor(), config_, redis_, log);
    endpoint_.set_cluster(cluster_.get());
  }
  for (const auto& r : config_.routes) {
    if (r.aggregated()) {
      std::vector<aggregate::member_binding> members;
      for (const route_member& m : r.members) {
        aggregate::member_binding binding;
        binding.config = &m;
        for (const auto& b : backends_) {
          if (b->name() == m.backend) {
            binding.http = b.get();
            binding.sse = b->replica(0).config().kind == backend_kind::sse;
          }
        }
        for (const auto& b : stdio_backends_) {
          if (b->name() == m.backend) {
            binding.stdio = b.get();
          }
        }
        members.push_back(binding);
      }
      aggregates_.push_back(std::make_unique<aggregate::route_state>(
          r, std::move(members), config_.limits, log, &config_.tenants));
      route_binding binding{r.path, nullptr, nullptr, false, nullptr};
      binding.aggregate = aggregates_.back().get();
      routes_.push_back(binding);
      continue;
    }
    for (const auto& b : backends_) {
      if (b->name() == r.backend) {
        routes_.push_back(route_binding{r.path, &b->replica(0), nullptr,
                                        b->replica(0).config().kind == backend_kind::sse, b.get()});
      }
    }
    for (const auto& b : stdio_backends_) {
      if (b->name() == r.backend) {
        routes_.push_back(route_binding{r.path, nullptr, b.get(), false});
      }
    }
  }
  if (stats_ != nullptr) {
    endpoint_.set_metrics(stats_);
    for (auto& a : aggregates_) {
      a->set_metrics(stats_);
    }
    for (const auto& r : config_.routes) {
      traffic_.emplace_back().path = r.path;
    }
    traffic_.emplace_back().path = "other";
    // Complete: responders keep pointers into its elements from here on.
    for (auto& t : traffic_) {
      t.received_total = &stats_->received_bytes.Add({{"route", t.path}});
      t.sent_total = &stats_->sent_bytes.Add({{"route", t.path}});
      t.response.sent = &t.sent;
      t.response.streams = &stats_->sse_streams.Add({{"route", t.path}});
    }
    stats_->on_scrape([this] {
      for (auto& t : traffic_) {
        t.received_total->Increment(static_cast<double>(std::exchange(t.received, 0)));
        t.sent_total->Increment(static_cast<double>(std::exchange(t.sent, 0)));
      }
    });
    register_gauges();
    handovers_ = &stats_->handovers.Add({});
  }
}

gateway_server::route_traffic* gateway_server::traffic_of(std::string_view path) {
  if (traffic_.empty()) {
    return nullptr;
  }
  for (auto& t : traffic_) {
    if (t.path == path) {
      return &t;
    }
  }
  return &traffic_.back();
}

void gateway_server::register_gauges() {
  // With several workers each sets what it sees, and the scrape merges: counts add up, a
  // replica is up when every worker finds it healthy, draining when any worker drains.
  using merge = metrics::gauge_merge;
  for (const auto& r : config_.routes) {
    auto* gauge = &stats_->sessions_active.Add({{"route", r.path}});
    stats_->on_scrape([this, gauge, path = r.path] {
      stats_->set_gauge(*gauge, double(endpoint_.session_count(path)));
    });
  }
  for (const auto& b : stdio_backends_) {
    auto* gauge = &stats_->stdio_processes.Add({{"backend", b->name()}});
    stats_->on_scrape([this, gauge, backend = b.get()] {
      stats_->set_gauge(*gauge, double(backend->running()));
    });
  }
  for (const auto& b : backends_) {
    for (std::size_t i = 0; i < b->size(); ++i) {
      auto* gauge =
          &stats_->replica_up.Add({{"backend", b->name()}, {"replica", b->replicas().url(i)}});
      stats_->on_scrape([this, gauge, group = b.get(), i] {
        stats_->set_gauge(*gauge, group->replicas().healthy(i) ? 1 : 0, merge::min);
      });
    }
  }
  auto* draining = &stats_->draining.Add({});
  stats_->on_scrape(
      [this, draining] { stats_->set_gauge(*draining, draining_ ? 1 : 0, merge::max); });
}

trace::carried gateway_server::tag_request(client_request& req) {
  std::string_view id = req["x-request-id"];
  if (!trace::valid_request_id(id)) {
    auto minted = request_ids_.new_span();
    id = req.set("x-request-id", std::string_view(minted.data(), minted.size()));
  }
  return {req["traceparent"], req["tracestate"], id};
}

std::size_t gateway_server::stdio_processes() const {
  std::size_t n = 0;
  for (const auto& b : stdio_backends_) {
    n += b->running();
  }
  return n;
}

gateway_server::~gateway_server() = default;

net::ip::tcp::acceptor gateway_server::bind(const host_port& where, const char* what) {
  boost::system::error_code ec;
  auto address = net::ip::make_address(where.host, ec);
  net::ip::tcp::endpoint endpoint;
  if (ec) {
    net::ip::tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(where.host, std::to_string(where.port), ec);
    if (ec || results.empty()) {
      throw std::runtime_error(std::string(what) + ": cannot resolve host '" + where.host + "'");
    }
    endpoint = results.begin()->endpoint();
  } else {
    endpoint = net::ip::tcp::endpoint(address, where.port);
  }
  net::ip::tcp::acceptor acceptor(ioc_);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw std::runtime_error(std::string(what) + ": cannot listen on " + where.host + ":" +
                             std::to_string(where.port) + ": " + ec.message());
  }
  return acceptor;
}

void gateway_server::join_workers(std::size_t index, std::vector<gateway_server*> all,
                                  workers::shared& shared) {
  worker_index_ = index;
  workers_ = std::move(all);
  shared_ = &shared;
  endpoint_.join_workers(index, workers_.size(), shared.sessions);
}

void gateway_server::start() {
  if (worker_index_ > 0) {
    // The first worker's listener, through a descriptor of this worker's own: each worker's
    // epoll set watches it, and whichever accepts first serves the connection.
    gateway_server& first = *workers_.front();
    const int fd = ::fcntl(first.acceptor_->native_handle(), F_DUPFD_CLOEXEC, 0);
    boost::system::error_code ec;
    acceptor_.emplace(ioc_);
    if (fd >= 0) {
      acceptor_->assign(first.listen_endpoint_.protocol(), fd, ec);
    }
    if (fd < 0 || ec) {
      if (fd >= 0) {
        ::close(fd);
      }
      throw std::runtime_error("worker " + std::to_string(worker_index_) +
                               ": cannot share the listener: " +
                               (fd < 0 ? std::string(std::strerror(errno)) : ec.message()));
    }
    listen_endpoint_ = first.listen_endpoint_;
    admin_endpoint_ = first.admin_endpoint_;
  } else {
    acceptor_.emplace(bind(config_.listen, "listen"));
    host_port admin = config_.admin_listen.value_or(host_port{"127.0.0.1", 9090});
    admin_acceptor_.emplace(bind(admin, "admin_listen"));
    listen_endpoint_ = acceptor_->local_endpoint();
    admin_endpoint_ = admin_acceptor_->local_endpoint();
    net::co_spawn(ioc_, accept_loop(*admin_acceptor_, listener_kind::admin), net::detached);
  }
  net::co_spawn(ioc_, accept_loop(*acceptor_, listener_kind::client), net::detached);
  if (cluster_) {
    cluster_acceptor_.emplace(bind(config_.cluster->listen, "cluster.listen"));
    net::co_spawn(ioc_, accept_loop(*cluster_acceptor_, listener_kind::cluster), net::detached);
    cluster_->start();
  }
  sweep_timer_.expires_at(sweep_at_);
  net::co_spawn(ioc_, sweep_read_deadlines(), net::detached);
  endpoint_.start();
  if (chain_) {
    chain_->start();
  }
  for (const auto& b : backends_) {
    b->start();
  }
  for (const auto& b : stdio_backends_) {
    b->start();
  }
  if (worker_index_ > 0) {
    return;  // the first worker's line names the addresses
  }
  std::string listen = format_endpoint(listen_endpoint_);
  std::string admin_text = format_endpoint(admin_endpoint_);
  log_.info("listening", {{"listen", listen},
                          {"admin", admin_text},
                          {"tls", config_.tls ? "on" : "off"},
                          {"workers", std::to_string(std::max<std::size_t>(workers_.size(), 1))}});
}

void gateway_server::stop() {
  if (draining_) {
    return;
  }
  draining_ = true;
  log_.info("shutting down", {{"grace_ms", std::to_string(config_.shutdown_grace.count())}});
  boost::system::error_code ignored;
  if (acceptor_) {
    acceptor_->close(ignored);
  }
  endpoint_.begin_shutdown();
  for (const auto& b : backends_) {
    b->stop();
  }
  if (cluster_) {
    cluster_->stop();
  }
  if (chain_) {
    chain_->stop();
  }
  for (const auto& b : stdio_backends_) {
    b->shutdown();
  }
  // Idle keep-alive connections and long-lived streams end now; requests in flight finish.
  for (auto& c : connections_) {
    close_if_idle(c);
  }
  net::co_spawn(ioc_, drain(), net::detached);
}

bool gateway_server::close_if_idle(connection_entry& c) {
  if (c.state != connection_state::idle || c.awaiting_first) {
    return false;
  }
  readiness_.remove(c.read, c.stream->tcp().socket().native_handle());  // before the close
  c.stream->close();
  return true;
}

net::awaitable<void> gateway_server::drain() {
  auto deadline = std::chrono::steady_clock::now() + config_.shutdown_grace;
  net::steady_timer timer(ioc_);
  auto wait_until = [&](auto done) -> net::awaitable<void> {
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(tuple_awaitable);
    }
  };
  // Stage 1: requests in flight finish; idle keep-alive connections close as they turn idle.
  co_await wait_until([&] {
    bool busy = false;
    for (auto& c : connections_) {
      busy = busy || c.state == connection_state::handling;
      close_if_idle(c);
    }
    return !busy;
  });
  // Stage 2: the remaining sessions end, and their backend sessions are deleted.
  endpoint_.finish_shutdown();
  deadline = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  // stdio processes get their whole shutdown sequence (stdin, SIGTERM, SIGKILL) on top.
  if (!stdio_backends_.empty()) {
    duration longest{0};
    for (const auto& b : stdio_backends_) {
      longest = std::max(longest, b->config().stdio.shutdown_timeout);
    }
    deadline = std::max(deadline,
                        std::chrono::steady_clock::now() + 2 * longest + std::chrono::seconds(1));
  }
  co_await wait_until([&] {
    std::size_t probes = 0;
    for (const auto& b : backends_) {
      probes += b->running();
    }
    if (cluster_) {
      probes += cluster_->running();
    }
    return endpoint_.background_tasks() == 0 && stdio_processes() == 0 && probes == 0;
  });
  log_.info("stopped", {{"open_connections", std::to_string(connections_.size())},
                        {"sessions", std::to_string(endpoint_.session_count())},
                        {"stdio_processes", std::to_string(stdio_processes())}});
  boost::system::error_code ignored;
  if (admin_acceptor_) {
    admin_acceptor_->close(ignored);
  }
  if (cluster_acceptor_) {
    cluster_acceptor_->close(ignored);
  }
  if (redis_) {
    redis_->close();
  }
  sweep_stopped_ = true;
  sweep_timer_.cancel();
  if (shared_ == nullptr) {
    ioc_.stop();
    co_return;
  }
  // The io_contexts stop together, when the last worker has drained: until then a drained
  // worker still takes part in a scrape and takes connections handed to it.
  if (shared_->drained.fetch_add(1) + 1 == workers_.size()) {
    for (gateway_server* w : workers_) {
      w->ioc_.stop();
    }
  }
}

net::awaitable<void> gateway_server::accept_loop(net::ip::tcp::acceptor& acceptor,
                                                 listener_kind kind) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) {
        break;
      }
      // Out of descriptors and the like: back off instead of spinning.
      log_.warn("accept failed", {{"error", ec.message()}});
      net::steady_timer wait(ioc_);
      wait.expires_after(std::chrono::milliseconds(50));
      co_await wait.async_wait(tuple_awaitable);
      continue;
    }
    if (!count_connection()) {
      log_.warn("connection refused: limits.max_connections reached",
                {{"limit", std::to_string(config_.limits.max_connections)}});
      continue;  // the socket closes here
    }
    net::co_spawn(ioc_, run_connection(std::move(socket), kind), net::detached);
  }
}

bool gateway_server::count_connection() {
  if (shared_ == nullptr) {
    return connections_.size() < config_.limits.max_connections;
  }
  return workers::take_one(shared_->connections, config_.limits.max_connections);
}

gateway_server::handed_connection::~handed_connection() {
  if (fd >= 0) {
    ::close(fd);
  }
}

std::size_t gateway_server::owner_of(const client_request& req) const {
  std::string_view id = req["mcp-session-id"];
  if (id.empty()) {
    id = query_param(req.target(), "sessionId");
  }
  return id.empty() ? worker_index_ : workers::owner_of(id, workers_.size());
}

void gateway_server::take_connection(std::unique_ptr<handed_connection> c) {
  net::ip::tcp::socket socket(ioc_);
  boost::system::error_code ec;
  socket.assign(c->protocol, c->fd, ec);
  if (ec) {
    log_.warn("handed-over connection dropped", {{"error", ec.message()}});
    if (shared_ != nullptr) {
      shared_->connections.fetch_sub(1, std::memory_order_relaxed);
    }
    return;  // c closes the descriptor
  }
  c->fd = -1;
  const listener_kind kind = c->kind;
  net::co_spawn(ioc_, run_connection(std::move(socket), kind, std::move(c)), net::detached);
}

net::awaitable<void> gateway_server::run_connection(net::ip::tcp::socket socket, listener_kind kind,
                                                    std::unique_ptr<handed_connection> incoming) {
  // Counted by count_connection (or by the worker that handed it over): uncounted however the
  // connection ends here, unless it moves on to another worker.
  struct counted {
    workers::shared* shared;
    bool moved = false;
    ~counted() {
      if (shared != nullptr && !moved) {
        shared->connections.fetch_sub(1, std::memory_order_relaxed);
      }
    }
  } count{shared_};
  boost::system::error_code ec;
  socket.set_option(net::ip::tcp::no_delay(true), ec);
  beast::tcp_stream tcp(std::move(socket));
  std::optional<any_stream> stream;
  if (tls_ && kind == listener_kind::client) {
    stream.emplace(std::move(tcp), *tls_);
  } else {
    stream.emplace(std::move(tcp));
  }
  connections_.emplace_back().stream = &*stream;
  // The entry goes with the connection however it ends (an exception included: drain() must
  // not find an entry whose stream is gone).
  struct listed {
    gateway_server& server;
    std::list<connection_entry>::iterator entry;
    ~listed() {
      server.readiness_.remove(entry->read, entry->stream->tcp().socket().native_handle());
      server.connections_.erase(entry);
    }
  } listing{*this, std::prev(connections_.end())};
  const auto entry = listing.entry;
  if (!stream->is_tls()) {
    readiness_.add(entry->read, stream->tcp().socket().native_handle());
  }
  if (stream->is_tls()) {
    stream->tcp().expires_after(config_.limits.header_timeout);
    auto [hec] =
        co_await stream->tls().async_handshake(net::ssl::stream_base::server, tuple_awaitable);
    if (hec) {
      log_.debug("TLS handshake failed", {{"error", hec.message()}});
      co_return;
    }
  }
  std::unique_ptr<handed_connection> outgoing;
  std::size_t to = 0;
  co_await serve(*stream, kind, *entry, incoming, outgoing, to);
  if (outgoing) {
    // Its request names a session of another worker: the connection goes there, request and
    // all, and stays there until a request names yet another worker's session.
    auto& handed = stream->tcp().socket();
    readiness_.remove(entry->read, handed.native_handle());
    boost::system::error_code hec;
    outgoing->protocol = handed.local_endpoint(hec).protocol();
    outgoing->fd = hec ? -1 : handed.release(hec);
    if (hec || outgoing->fd < 0) {
      log_.debug("connection not handed over", {{"error", hec.message()}});
      stream->close();
      co_return;
    }
    count.moved = true;
    if (handovers_ != nullptr) {
      handovers_->Increment();
    }
    gateway_server* target = workers_[to];
    net::post(target->ioc_, [target, c = std::move(outgoing)]() mutable {
      target->take_connection(std::move(c));
    });
    co_return;
  }
  if (stream->is_tls()) {
    stream->tcp().expires_after(std::chrono::seconds(1));
    co_await stream->tls().async_shutdown(tuple_awaitable);
  }
  readiness_.remove(entry->read, stream->tcp().socket().native_handle());  // before the close
  stream->close();
}

net::awaitable<void> gateway_server::serve(any_stream& stream, listener_kind kind,
                                           connection_entry& entry,
                                           std::unique_ptr<handed_connection>& incoming,
                                           std::unique_ptr<handed_connection>& outgoing,
                                           std::size_t& to) {
  beast::flat_buffer buffer;
  // One request object for the connection's requests, each handled before the next is read:
  // its head, field and body buffers are reused instead of allocated per request.
  client_request req;
  if (incoming) {
    // Read by the worker that handed the connection over.
    req = std::move(incoming->request);
    const std::string_view unread = incoming->unread;
    buffer.commit(net::buffer_copy(buffer.prepare(unread.size()), net::buffer(unread)));
  }
  bool first = true;
  while (!draining_ || first) {
    entry.state = connection_state::idle;
    const duration header_timeout =
        first ? config_.limits.header_timeout : config_.limits.idle_connection_timeout;
    first = false;
    bool read = true;
    if (incoming) {
      incoming.reset();
      entry.state = connection_state::handling;
    } else {
      read = co_await next_request(stream, buffer, entry, header_timeout, req);
    }
    entry.awaiting_first = false;
    if (!read) {
      co_return;
    }
    if (!workers_.empty() && kind == listener_kind::client && !stream.is_tls()) {
      if (const std::size_t owner = owner_of(req); owner != worker_index_) {
        outgoing = std::make_unique<handed_connection>();
        outgoing->kind = kind;
        outgoing->request = std::move(req);
        outgoing->unread.assign(static_cast<const char*>(buffer.data().data()), buffer.size());
        to = owner;
        co_return;
      }
    }
    bool keep_alive = req.keep_alive() && !draining_;
    responder response(stream, keep_alive, config_.limits.write_timeout, entry.state);
    if (req.method() == http::verb::head) {
      response.set_head_only();
    }
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (kind == listener_kind::admin) {
      co_await handle_admin(req, response);
    } else if (kind == listener_kind::cluster) {
      response.set_request(tag_request(req));
      if (auto* t = traffic_of(path)) {
        t->received += req.body().size();
        response.count_into(t->response);
      }
      co_await handle_forwarded(req, response, path);
    } else {
      response.set_request(tag_request(req));
      using legacy_kind = streamable_http_endpoint::legacy_kind;
      const route_binding* route = nullptr;
      const route_binding* legacy_route = nullptr;
      legacy_kind legacy = legacy_kind::sse;
      for (const auto& r : routes_) {
        if (r.path == path) {
          route = &r;
        } else if (path == streamable_http_endpoint::legacy_path(r, legacy_kind::sse)) {
          legacy_route = &r;
          legacy = legacy_kind::sse;
        } else if (path == streamable_http_endpoint::legacy_path(r, legacy_kind::message)) {
          legacy_route = &r;
          legacy = legacy_kind::message;
        }
      }
      const filter::endpoint* document = nullptr;
      for (const auto& e : filter_endpoints_) {
        if (e.path == path) {
          document = &e;
        }
      }
      if (auto* t = traffic_of(route          ? std::string_view(route->path)
                               : legacy_route ? std::string_view(legacy_route->path)
                                              : std::string_view("other"))) {
        t->received += req.body().size();
        response.count_into(t->response);
      }
      if (document != nullptr) {
        co_await serve_document(req, response, *document);
      } else if (route) {
        co_await endpoint_.handle(req, response, *route);
      } else if (legacy_route) {
        co_await endpoint_.handle_legacy(req, response, *legacy_route, legacy);
      } else {
        co_await response.send(404, "application/json",
                               jsonrpc::make_error({}, jsonrpc::invalid_request,
                                                   "no MCP endpoint at '" + std::string(path) +
                                                       "'; see routes in the gateway config"));
      }
    }
    if (!response.started()) {
      co_await response.send(
          500, "application/json",
          jsonrpc::make_error({}, jsonrpc::internal_error, "the gateway produced no response"));
    }
    if (!response.keep_alive()) {
      co_return;
    }
  }
}

net::awaitable<void> gateway_server::serve_document(client_request& req, responder& res,
                                                    const filter::endpoint& document) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    static constexpr std::pair<std::string_view, std::string_view> allow[] = {
        {"Allow", "GET, HEAD"}};
    co_await res.send(405, "application/json",
                      jsonrpc::make_error({}, jsonrpc::invalid_request,
                                          "method " + std::string(req.method_string()) +
                                              " is not allowed on " + document.path + "; use GET"),
                      allow);
    co_return;
  }
  // Discovery documents are public and fetched by browser-based clients too.
  static constexpr std::pair<std::string_view, std::string_view> headers[] = {
      {"Access-Control-Allow-Origin", "*"}, {"Cache-Control", "max-age=300"}};
  co_await res.send(200, document.content_type, document.body, headers);
}

net::awaitable<void> gateway_server::handle_forwarded(client_request& req, responder& res,
                                                      std::string_view path) {
  auto refuse = [&](unsigned status, std::string message) -> net::awaitable<void> {
    co_await res.send(status, "application/json",
                      jsonrpc::make_error({}, jsonrpc::invalid_request, message));
  };
  std::string_view token = req[cluster::token_header];
  if (!cluster::token_matches(token, cluster_->config().secret)) {
    log_.warn("cluster request refused: wrong or missing secret",
              {{"path", std::string(path.substr(0, 100))}});
    co_await refuse(401, "this is the replicas' internal listener; the cluster secret is wrong");
    co_return;
  }
  auto who = cluster::decode_principal(req[cluster::principal_header]);
  if (!who) {
    co_await refuse(400, "forwarded request without a readable Mcpgw-Principal header");
    co_return;
  }
  for (const auto& r : routes_) {
    if (r.path == path) {
      res.set_forwarded();
      co_await endpoint_.handle(req, res, r, &*who);
      co_return;
    }
  }
  co_await refuse(404, "no route '" + std::string(path.substr(0, 100)) + "' on this replica");
}

net::awaitable<std::string> gateway_server::scrape_workers() {
  // One scrape at a time: the workers' gauge values are read here after they set them.
  net::steady_timer wait(ioc_);
  while (scraping_) {
    wait.expires_after(std::chrono::milliseconds(5));
    co_await wait.async_wait(tuple_awaitable);
  }
  scraping_ = true;
  struct done {
    bool& flag;
    ~done() { flag = false; }
  } scraped{scraping_};
  std::vector<metrics*> all;
  for (gateway_server* w : workers_) {
    if (w == this) {
      stats_->prepare_scrape();
    } else {
      // On the worker's own thread: its hooks read its sessions, processes and breakers.
      co_await net::co_spawn(
          w->ioc_,
          [w]() -> net::awaitable<void> {
            w->stats_->prepare_scrape();
            co_return;
          },
          net::use_awaitable);
    }
    all.push_back(w->stats_);
  }
  co_return stats_->collect(all);
}

net::awaitable<void> gateway_server::handle_admin(client_request& req, responder& res) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    co_await res.send(405, "application/json", R"({"error":"use GET"})");
  } else if (path == "/healthz") {
    co_await res.send(200, "application/json", R"({"status":"ok"})");
  } else if (path == "/readyz") {
    co_await send_readiness(res);
  } else if (path == "/metrics" && stats_ != nullptr) {
    // (No co_await inside a conditional expression: GCC 12 frees its result too early.)
    std::string text;
    if (workers_.size() > 1) {
      text = co_await scrape_workers();
    } else {
      text = stats_->scrape();
    }
    co_await res.send(200, "text/plain; version=0.0.4; charset=utf-8", text);
  } else if (path == "/metrics") {
    co_await res.send(404, "application/json",
                      R"json({"error":"metrics are off (observability.metrics: false)"})json");
  } else {
    co_await res.send(404, "application/json",
                      R"({"error":"not found; try /healthz, /readyz or /metrics"})");
  }
}

net::awaitable<void> gateway_server::send_readiness(responder& res) {
  // Ready: not draining, the session store answers (a PING within its timeout: else this
  // replica could neither find sessions created elsewhere nor publish its own), and every
  // backend marked `required` can be reached.
  std::vector<std::string> problems;
  std::string checks = R"({"draining":)";
  checks += draining_ ? "true" : "false";
  if (draining_) {
    problems.emplace_back("draining");
  }
  checks += R"(,"store":)";
  if (redis_ && !draining_) {
    std::array<std::string_view, 1> args{"PING"};
    redis_result ping = co_await redis_->command(args);
    if (!ping.ok() || ping.reply.is_error()) {
      std::string why = "session store unreachable: " + (ping.ok() ? ping.reply.str : ping.error);
      checks += jsonrpc::quote(why);
      problems.push_back(std::move(why));
    } else {
      checks += R"("ok")";
    }
  } else {
    checks += redis_ ? R"("not checked")" : R"("ok")";
  }
  checks += R"(,"backends":{)";
  bool first = true;
  auto report = [&](const std::string& name, bool required, std::string state) {
    checks += first ? "" : ",";
    first = false;
    checks += jsonrpc::quote(name) + ":{\"required\":" + (required ? "true" : "false") +
              ",\"state\":" + jsonrpc::quote(state) + "}";
    if (required && state != "ok") {
      problems.push_back("required backend '" + name + "' " + state);
    }
  };
  for (const auto& b : backends_) {
    std::size_t up = 0;
    for (std::size_t i = 0; i < b->size(); ++i) {
      up += b->replicas().healthy(i);
    }
    const bool probed = b->size() > 1 || b->replica(0).config().required;
    report(b->name(), b->replica(0).config().required,
           !probed  ? "not probed"
           : up > 0 ? "ok"
                    : "unreachable: no replica passes its health check");
  }
  for (const auto& b : stdio_backends_) {
    report(b->name(), b->config().required,
           b->start_failure().empty() ? "ok" : "cannot start: " + b->start_failure());
  }
  checks += "}}";
  if (problems.empty()) {
    co_await res.send(200, "application/json",
                      R"({"status":"ready","sessions":)" +
                          std::to_string(endpoint_.session_count()) + R"(,"checks":)" + checks +
                          "}");
    co_return;
  }
  std::string reason;
  for (const auto& p : problems) {
    reason += (reason.empty() ? "" : "; ") + p;
  }
  co_await res.send(503, "application/json",
                    std::string(R"({"status":)") +
                        (draining_ ? R"("draining")" : R"("not ready")") + R"(,"reason":)" +
                        jsonrpc::quote(reason) + R"(,"checks":)" + checks + "}");
}

}  // namespace mcpgw
