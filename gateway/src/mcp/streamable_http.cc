#include "mcp/streamable_http.h"

#include "mcp/endpoint_detail.h"
#include "mcpgw/buffer_pool.h"
#include "server/workers.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

namespace mcpgw {

using namespace endpoint_detail;

namespace {

// 128 bits from the OS CSPRNG, in hex.
std::string random_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("the OS random generator failed");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (unsigned char b : bytes) {
    id.push_back(hex[b >> 4]);
    id.push_back(hex[b & 0xf]);
  }
  return id;
}

}  // namespace

streamable_http_endpoint::streamable_http_endpoint(net::any_io_executor ex,
                                                   const gateway_config& config, logger& log,
                                                   std::shared_ptr<const filter_chain> chain,
                                                   std::shared_ptr<session_store> store)
    : ex_(ex),
      config_(config),
      log_(log),
      chain_(chain && !chain->empty() ? std::move(chain) : nullptr),
      store_(store ? std::move(store) : std::make_shared<memory_session_store>()),
      replica_id_(random_id().substr(0, 16)),
      tracing_{{}, config.observability.trace_generate, config.observability.trace_meta},
      sweep_timer_(ex) {}

void streamable_http_endpoint::count_started(const route_binding& route) {
  if (stats_ != nullptr) {
    stats_->sessions_started.Add({{"route", route.path}}).Increment();
  }
}

std::size_t streamable_http_endpoint::session_count(std::string_view route) const {
  std::size_t n = 0;
  for (const auto& [id, s] : sessions_) {
    n += s->route().path == route;
  }
  return n;
}

std::string streamable_http_endpoint::mint_session_id() {
  // With several workers, drawn until the id hashes to this one (`count` draws on average):
  // every worker then knows where the session is from its id alone.
  std::string id = random_id();
  while (workers::owner_of(id, worker_count_) != worker_index_) {
    id = random_id();
  }
  return id;
}

net::awaitable<bool> streamable_http_endpoint::send_error(responder& res, unsigned status, int code,
                                                          std::string_view message,
                                                          std::string_view id_raw,
                                                          header_list extra) {
  co_return co_await res.send(status, json_type, jsonrpc::make_error(id_raw, code, message), extra);
}

std::string streamable_http_endpoint::failure_message(const http_backend& backend,
                                                      backend_failure f) const {
  switch (f) {
    case backend_failure::timeout:
      return "backend '" + backend.name() + "' did not answer within its deadline (http.timeout " +
             std::to_string(backend.config().http.timeout.count()) +
             " ms of silence, limits.max_call_duration " +
             std::to_string(config_.limits.max_call_duration.count()) + " ms in all)";
    case backend_failure::protocol:
      return "backend '" + backend.name() + "' sent a response the gateway cannot use";
    case backend_failure::unavailable:
    case backend_failure::none:
      break;
  }
  return "backend '" + backend.name() + "' is unavailable";
}

std::optional<std::string> streamable_http_endpoint::origin_refusal(
    const client_request& req) const {
  // DNS rebinding protection: a page in a browser must not reach a local gateway.
  std::string_view host = header_of(req, http::field::host);
  if (!http_headers::host_allowed(host, config_.allowed_hosts)) {
    return "Host header '" + std::string(host) + "' is not allowed; add it to allowed_hosts";
  }
  std::string_view origin = header_of(req, http::field::origin);
  if (!origin.empty() &&
      !http_headers::origin_allowed(origin, config_.allowed_origins, config_.allowed_hosts)) {
    return "Origin '" + std::string(origin) + "' is not allowed; add it to allowed_origins";
  }
  return std::nullopt;
}

net::awaitable<void> streamable_http_endpoint::handle(client_request& req, responder& res,
                                                      const route_binding& route,
                                                      const principal* forwarded) {
  principal who;
  if (forwarded != nullptr) {
    who = *forwarded;  // the forwarding replica checked the origin and ran the HTTP hooks
  } else if (auto refused = origin_refusal(req)) {
    co_await send_error(res, 403, transport_error, *refused);
    co_return;
  }
  if (chain_ && forwarded == nullptr) {
    const bool admitted = co_await admit(req, res, route, client_transport::streamable_http, who);
    if (!admitted) {
      co_return;
    }
  }
  switch (req.method()) {
    case http::verb::post:
      co_await handle_post(req, res, route, who);
      break;
    case http::verb::get:
      co_await handle_get(req, res, route, who);
      break;
    case http::verb::delete_:
      co_await handle_delete(req, res, route, who);
      break;
    default: {
      static constexpr std::pair<std::string_view, std::string_view> allow[] = {
          {"Allow", "GET, POST, DELETE"}};
      co_await send_error(res, 405, transport_error,
                          "method " + std::string(req.method_string()) +
                              " is not allowed on an MCP endpoint; use POST, GET or DELETE",
                          {}, allow);
    }
  }
}

namespace {

// A session belongs to the route that created it: elsewhere it does not exist. An HTTP+SSE
// session's id is valid on its message endpoint only. Another principal's session answers
// exactly like one that never existed.
bool serves(const session& s, const route_binding& route, const principal& who) {
  return s.route().path == route.path && !s.is_legacy() && s.who().same_as(who);
}

// The request's MCP-Protocol-Version (when given) is one this session can be spoken in:
// 2024-11-05 only where it was negotiated (a legacy SSE backend behind this session).
bool version_accepted(std::string_view version, const session& s) {
  return version.empty() || http_headers::is_supported_protocol_version(version) ||
         (version == legacy_protocol_version && s.protocol_version() == legacy_protocol_version);
}

}  // namespace

std::shared_ptr<session> streamable_http_endpoint::session_at_hand(const client_request& req,
                                                                   const route_binding& route,
                                                                   const principal& who) {
  std::string_view id = header_of(req, "mcp-session-id");
  auto it = id.empty() ? sessions_.end() : sessions_.find(id);
  if (it == sessions_.end()) {
    return nullptr;
  }
  const std::shared_ptr<session>& s = it->second;
  if (!serves(*s, route, who) || !version_accepted(header_of(req, "mcp-protocol-version"), *s) ||
      !s->replica_alive() ||
      (store_->shared() &&
       session::clock::now() - s->store_checked() >= config_.session_store.cache_ttl)) {
    return nullptr;
  }
  s->touch();
  return s;
}

net::awaitable<std::shared_ptr<session>> streamable_http_endpoint::find_session(
    client_request& req, responder& res, const route_binding& route, const principal& who) {
  std::string_view id = header_of(req, "mcp-session-id");
  if (id.empty()) {
    co_await send_error(res, 400, transport_error,
                        "missing Mcp-Session-Id header: send initialize first and then the "
                        "session id it returned");
    co_return nullptr;
  }
  auto it = sessions_.find(id);
  std::shared_ptr<session> s = it != sessions_.end() ? it->second : nullptr;
  if (!s && cluster_ != nullptr && !res.forwarded()) {
    if (auto remote = remote_.find(id); remote != remote_.end()) {
      if (remote->second.expires > session::clock::now() && remote->second.route == route.path &&
          remote->second.who.same_as(who)) {
        co_await forward(req, res, route, who, remote->second.owner);
        co_return nullptr;
      }
      remote_.erase(remote);
    }
  }
  if (!s && store_->shared()) {
    // Created on another replica, perhaps: its record says whether it can be served here.
    store_result looked_up;
    std::string owner;
    s = co_await adopt(id, route, who, looked_up, owner);
    if (!owner.empty() && !res.forwarded()) {
      if (remote_.size() >= config_.session_store.max_sessions) {
        remote_.clear();  // a bound, not an eviction policy: entries are re-read in a second
      }
      remote_[std::string(id)] = remote_session{
          owner, route.path, who, session::clock::now() + config_.session_store.cache_ttl};
      co_await forward(req, res, route, who, owner);
      co_return nullptr;
    }
    if (looked_up.status == store_status::unavailable) {
      static constexpr std::pair<std::string_view, std::string_view> retry[] = {
          {"Retry-After", "1"}};
      co_await send_error(
          res, 503, transport_error,
          "the session store is unavailable (" + looked_up.error + "); retry shortly", {},
          header_list(retry));
      co_return nullptr;
    }
  }
  if (!s || !serves(*s, route, who)) {
    co_await send_error(res, 404, session_not_found,
                        "session not found (expired or deleted); start a new session with "
                        "initialize");
    co_return nullptr;
  }
  std::string_view version = header_of(req, "mcp-protocol-version");
  if (!version_accepted(version, *s)) {
    co_await send_error(res, 400, transport_error,
                        "unsupported MCP-Protocol-Version '" + std::string(version) +
                            "'; supported: 2025-11-25, 2025-06-18, 2025-03-26");
    co_return nullptr;
  }
  if (!s->replica_alive()) {
    // Its backend replica failed its health checks: the backend session is gone with it.
    log_.info(
        "session ended: its backend replica is down",
        {{"session", s->id()}, {"backend", s->backend_name()}, {"replica", s->replica_url()}});
    end_session(s, false);
    co_await send_error(res, 404, session_not_found,
                        "session not found: its backend replica is down; start a new session "
                        "with initialize");
    co_return nullptr;
  }
  s->touch();
  if (store_->shared()) {
    // At most once per cache_ttl: extend the record's TTL, and learn whether another replica
    // deleted the session meanwhile.
    auto now = session::clock::now();
    if (now - s->store_checked() >= config_.session_store.cache_ttl) {
      s->set_store_checked(now);
      store_result touched = co_await store_->touch(s->id(), config_.session_store.idle_timeout);
      if (touched.status == store_status::not_found && s->unpublished()) {
        co_await publish(*s);  // the store was down when it started: record it now
        touched.status = store_status::ok;
      }
      if (touched.status == store_status::not_found) {
        log_.info("session ended elsewhere", {{"session", s->id()}, {"route", route.path}});
        forget_session(s);
        co_await send_error(res, 404, session_not_found,
                            "session not found (expired or deleted); start a new session with "
                            "initialize");
        co_return nullptr;
      }
      if (touched.status == store_status::unavailable) {
        log_.debug("session store unavailable; serving the session from this replica",
                   {{"session", s->id()}, {"error", touched.error}});
      }
    }
  }
  co_return s;
}

// ---------------------------------------------------------------------------------------------
// POST

std::optional<std::string> streamable_http_endpoint::json_type_refusal(
    const client_request& req) const {
  std::string_view content_type = header_of(req, http::field::content_type);
  if (http_headers::is_json_content_type(content_type)) {
    return std::nullopt;
  }
  return "Content-Type must be application/json, got '" + std::string(content_type) + "'";
}

std::optional<streamable_http_endpoint::post_refusal> streamable_http_endpoint::post_refused(
    const client_request& req) const {
  if (auto refused = json_type_refusal(req)) {
    return post_refusal{415, transport_error, std::move(*refused)};
  }
  std::string_view accept = header_of(req, http::field::accept);
  auto accepted = http_headers::parse_accept(accept);
  if (!accepted.json || !accepted.event_stream) {
    return post_refusal{406, transport_error,
                        "Accept must list both application/json and text/event-stream, got '" +
                            std::string(accept) + "'"};
  }
  return std::nullopt;
}

// The common case (one message on a session) runs here; the rare branches run in coroutines
// of their own, since GCC gives every local of a coroutine, whatever its branch, a slot in the
// frame, which is allocated per request. (At 1,616 bytes it is still over the 1,020 that
// Asio's frame cache takes: the decoded body and the admission are most of it.)
net::awaitable<void> streamable_http_endpoint::handle_post(client_request& req, responder& res,
                                                           const route_binding& route,
                                                           const principal& who) {
  if (auto refused = post_refused(req)) {
    co_await send_error(res, refused->status, refused->code, refused->message);
    co_return;
  }
  const std::string& body = req.body();
  jsonrpc::decoded_body decoded = decoder_.decode_body(body);
  if (decoded.problem_code != 0) {
    co_await send_error(res, 400, decoded.problem_code, decoded.problem,
                        decoded.single.id.in(body));
    co_return;
  }
  const jsonrpc::envelope& env = decoded.single;
  if (!decoded.batch && env.kind == jsonrpc::message_kind::request &&
      env.method.str() == "initialize") {
    co_await initialize_post(req, res, route, env, who);
    co_return;
  }
  std::shared_ptr<session> s = session_at_hand(req, route, who);
  if (!s) {
    s = co_await find_session(req, res, route, who);
    if (!s) {
      co_return;
    }
  }
  if (decoded.batch) {
    co_await handle_batch(std::move(s), who, body, decoded, res);
    co_return;
  }
  beast_headers headers(req);
  local_reply reply;
  filter_status admitted = filter_status::next;
  if (s->filters() != nullptr) {
    admission hooks(*this, *s, who, &headers, body, env, &res.trace());
    if (!hooks.decided()) {
      co_await hooks.wait();
    }
    admitted = hooks.settle(reply);
  }
  if (admitted == filter_status::stop) {
    co_await send_local_reply(res, reply, env, body, s.get());
    co_return;
  }
  if (env.kind != jsonrpc::message_kind::request) {
    co_await forward_client_message(std::move(s), body, env, res);
    co_return;
  }
  // Normally taken over when the request is mapped; fired here if it never was.
  staged_completion staged(*s, env.id.in(body));
  if (s->is_stdio()) {
    co_await send_stdio_request(s, body, env, s->protocol_version(), res, false);
  } else {
    co_await forward_request(s, body, env, res);
  }
}

net::awaitable<void> streamable_http_endpoint::initialize_post(client_request& req, responder& res,
                                                               const route_binding& route,
                                                               const jsonrpc::envelope& env,
                                                               const principal& who) {
  if (!header_of(req, "mcp-session-id").empty()) {
    co_await send_error(res, 400, jsonrpc::invalid_request,
                        "initialize must not carry an Mcp-Session-Id: this session is already "
                        "initialized; omit the header to start a new session",
                        env.id.in(req.body()));
    co_return;
  }
  co_await initialize(req, res, route, env, who);
}

net::awaitable<void> streamable_http_endpoint::handle_batch(std::shared_ptr<session> s,
                                                            const principal& who,
                                                            std::string_view body,
                                                            const jsonrpc::decoded_body& decoded,
                                                            responder& res) {
  if (s->protocol_version() != "2025-03-26") {
    co_await send_error(res, 400, jsonrpc::invalid_request,
                        "JSON-RPC batches are only allowed with protocol 2025-03-26; this "
                        "session negotiated " +
                            s->protocol_version());
    co_return;
  }
  if (s->is_stdio()) {
    co_await forward_batch_stdio(s, who, body, decoded, res);
  } else {
    co_await forward_batch(s, who, body, decoded, res);
  }
}

net::awaitable<void> streamable_http_endpoint::forward_client_message(std::shared_ptr<session> s,
                                                                      std::string_view body,
                                                                      const jsonrpc::envelope& env,
                                                                      responder& res) {
  switch (env.kind) {
    case jsonrpc::message_kind::notification: {
      std::int64_t cancels = -1;
      auto mapped = s->map_client_notification(body, env, cancels);
      if (!mapped) {
        co_await res.send_empty(202);  // cancels a request that already finished
        co_return;
      }
      if (s->is_stdio()) {
        co_await forward_message_stdio(s, std::move(*mapped), env, res, cancels);
      } else {
        co_await forward_message(s, std::move(*mapped), env, res, cancels);
      }
      break;
    }
    case jsonrpc::message_kind::result:
    case jsonrpc::message_kind::error: {
      auto mapped = s->map_client_response(body, env);
      if (!mapped) {
        co_await send_error(res, 400, jsonrpc::invalid_request,
                            "no server request with id " + std::string(env.id.in(body)) +
                                " is pending in this session");
        co_return;
      }
      if (s->is_stdio()) {
        co_await forward_message_stdio(s, std::move(*mapped), env, res, -1);
      } else {
        co_await forward_message(s, std::move(*mapped), env, res, -1);
      }
      break;
    }
    case jsonrpc::message_kind::request:
    case jsonrpc::message_kind::invalid:
      break;  // requests are forwarded by handle_post; invalid ones were rejected
  }
}

net::awaitable<void> streamable_http_endpoint::initialize(client_request& req, responder& res,
                                                          const route_binding& route,
                                                          const jsonrpc::envelope& env,
                                                          const principal& who) {
  const std::string& body = req.body();
  std::string_view client_id = env.id.in(body);
  if (shutting_down_) {
    co_await send_error(res, 503, transport_error,
                        "the gateway is shutting down; retry on another replica", client_id);
    co_return;
  }
  if (!take_session_slot()) {
    co_await send_error(res, 503, transport_error,
                        "too many sessions (session_store.max_sessions = " +
                            std::to_string(config_.session_store.max_sessions) +
                            "); retry later or raise the limit",
                        client_id);
    co_return;
  }
  // The slot is held while the backend answers, so concurrent initializes cannot overshoot.
  ++pending_initializes_;
  note_held();
  struct release_slot {
    streamable_http_endpoint& endpoint;
    ~release_slot() {
      --endpoint.pending_initializes_;
      endpoint.note_held();
    }
  } slot{*this};
  auto s = new_session(route, who);
  s->set_client_capabilities(jsonrpc::client_capabilities(body));
  active_request guard(s);
  beast_headers headers(req);
  local_reply reply;
  filter_status admitted = filter_status::next;
  if (s->filters() != nullptr) {
    admission hooks(*this, *s, who, &headers, body, env, &res.trace());
    if (!hooks.decided()) {
      co_await hooks.wait();
    }
    admitted = hooks.settle(reply);
  }
  if (admitted == filter_status::stop) {
    co_await send_local_reply(res, reply, env, body, nullptr);
    co_return;
  }
  staged_completion staged(*s, client_id);
  if (route.uses_channel()) {
    co_await initialize_stdio(req, res, route, env, s, staged);
    co_return;
  }
  std::int64_t upstream_id = 0;
  const buffer_pool::pooled upstream_body{
      s->map_client_request(body, env, upstream_id, &res.trace())};
  const sent_trace trace(*s, upstream_id);
  backend_request breq;
  breq.tenant = s->who().tenant;
  breq.body = *upstream_body;
  breq.traceparent = trace.traceparent;
  breq.tracestate = trace.tracestate;
  breq.mcp_method = env.method.str();
  auto [failure, exchange] = co_await s->backend().send(breq);
  if (failure != backend_failure::none) {
    log_.warn("backend initialize failed", {{"backend", s->backend_name()},
                                            {"route", route.path},
                                            {"error", failure_message(s->backend(), failure)}});
    std::string answer = s->failure_response(upstream_id, failure_code(failure),
                                             failure_message(s->backend(), failure));
    s->forget_request(upstream_id);
    co_await res.send(200, json_type, answer);
    co_return;
  }
  s->set_upstream_id(exchange->header("mcp-session-id"));
  // Registered before the answer leaves, so the client's next request finds it.
  sessions_.emplace(s->id(), s);
  note_held();
  relay_outcome outcome = co_await relay_response(s, std::move(exchange), upstream_id,
                                                  env.protocol_version.str(), res, true);
  if (outcome != relay_outcome::completed) {
    // The backend may have opened a session before failing: it is deleted (unless the
    // backend already ended it, which closed ours).
    if (!s->closed()) {
      end_session(s, true);
    }
    co_return;
  }
  count_started(route);
  log_.info("session started", {{"session", s->id()},
                                {"tenant", who.tenant},
                                {"request_id", res.request_id()},
                                {"route", route.path},
                                {"backend", s->backend_name()},
                                {"protocol", s->protocol_version()}});
}

net::awaitable<void> streamable_http_endpoint::forward_request(std::shared_ptr<session> s,
                                                               std::string_view body,
                                                               const jsonrpc::envelope& env,
                                                               responder& res) {
  active_request guard(s);
  std::int64_t upstream_id = 0;
  const buffer_pool::pooled upstream_body{
      s->map_client_request(body, env, upstream_id, &res.trace())};
  const sent_trace trace(*s, upstream_id);
  backend_request breq;
  breq.tenant = s->who().tenant;
  breq.body = *upstream_body;
  breq.traceparent = trace.traceparent;
  breq.tracestate = trace.tracestate;
  breq.mcp_method = env.method.str();
  breq.session_id = s->upstream_id();
  breq.protocol_version = s->protocol_version();
  auto [failure, exchange] = co_await s->backend().send(breq);
  if (failure != backend_failure::none) {
    std::string answer = s->failure_response(upstream_id, failure_code(failure),
                                             failure_message(s->backend(), failure));
    s->forget_request(upstream_id);
    session_header sid{{{"Mcp-Session-Id", s->id()}}};
    co_await res.send(200, json_type, answer, sid);
    co_return;
  }
  co_await relay_response(s, std::move(exchange), upstream_id, s->protocol_version(), res, false);
}

net::awaitable<void> streamable_http_endpoint::forward_message(std::shared_ptr<session> s,
                                                               std::string mapped,
                                                               const jsonrpc::envelope& env,
                                                               responder& res,
                                                               std::int64_t cancels) {
  active_request guard(s);
  backend_request breq;
  breq.tenant = s->who().tenant;
  breq.body = mapped;
  breq.session_id = s->upstream_id();
  breq.protocol_version = s->protocol_version();
  auto [failure, exchange] = co_await s->backend().send(breq);
  if (failure != backend_failure::none) {
    co_await send_error(res, failure == backend_failure::timeout ? 504 : 502, failure_code(failure),
                        failure_message(s->backend(), failure));
    co_return;
  }
  std::string text;
  failure = co_await exchange->read_body(text);
  unsigned status = exchange->status();
  if (failure != backend_failure::none) {
    co_await send_error(res, failure == backend_failure::timeout ? 504 : 502, failure_code(failure),
                        failure_message(s->backend(), failure));
    co_return;
  }
  if (status == 404 && !s->upstream_id().empty()) {
    end_session(s, false);
    co_await send_error(res, 404, session_not_found,
                        "session expired at backend '" + s->backend().name() +
                            "'; start a new session with initialize");
    co_return;
  }
  if (status / 100 != 2) {
    if (text.size() > 300) {
      text.resize(300);
    }
    co_await send_error(res, status / 100 == 4 ? status : 502, jsonrpc::backend_protocol_error,
                        "backend '" + s->backend().name() + "' rejected the message with HTTP " +
                            std::to_string(status) + (text.empty() ? "" : ": " + text));
    co_return;
  }
  if (cancels >= 0) {
    s->abort_request(cancels);
  }
  if (env.kind == jsonrpc::message_kind::notification &&
      env.method.str() == "notifications/initialized" && !s->ready()) {
    // Open the backend's GET stream before the client can send its first request, so a
    // server->client request the backend sends on it is never lost to a race.
    s->set_ready();
    co_await open_backend_stream(s);
  }
  co_await res.send_empty(202);
}

net::awaitable<void> streamable_http_endpoint::forward_batch(std::shared_ptr<session> s,
                                                             const principal& who,
                                                             std::string_view body,
                                                             const jsonrpc::decoded_body& decoded,
                                                             responder& res) {
  // Backends at 2025-06-18 and later take no batches: each element goes on its own, and the
  // responses are gathered into one array.
  active_request guard(s);
  std::string responses;
  for (const auto& element : decoded.elements) {
    std::string text(element.in(body));
    jsonrpc::envelope env = decoder_.decode(text);
    std::string_view id = env.id.in(text);
    auto collect = [&](std::string message) {
      responses += responses.empty() ? "[" : ",";
      responses += message;
    };
    if (std::string error = batch_element_error(env, id); !error.empty()) {
      collect(std::move(error));
      continue;
    }
    // A filter's stop is this element's error (an HTTP status cannot answer one element).
    local_reply refusal;
    filter_status admitted = filter_status::next;
    if (s->filters() != nullptr) {  // no coroutine frame without filters
      admitted = co_await filter_message(*s, who, nullptr, text, env, refusal);
    }
    if (admitted == filter_status::stop) {
      if (env.kind == jsonrpc::message_kind::request) {
        collect(jsonrpc::make_error(id, refusal.code, refusal.message));
      }
      continue;
    }
    staged_completion staged(*s,
                             env.kind == jsonrpc::message_kind::request ? id : std::string_view());
    std::string upstream_body;
    std::int64_t upstream_id = -1;
    std::int64_t cancels = -1;
    if (env.kind == jsonrpc::message_kind::request) {
      upstream_body = s->map_client_request(text, env, upstream_id, &res.trace());
    } else if (env.kind == jsonrpc::message_kind::notification) {
      auto mapped = s->map_client_notification(text, env, cancels);
      if (!mapped) {
        continue;
      }
      upstream_body = std::move(*mapped);
    } else {
      auto mapped = s->map_client_response(text, env);
      if (!mapped) {
        continue;
      }
      upstream_body = std::move(*mapped);
    }
    const sent_trace trace(*s, upstream_id);
    backend_request breq;
    breq.tenant = s->who().tenant;
    breq.body = upstream_body;
    breq.traceparent = trace.traceparent;
    breq.tracestate = trace.tracestate;
    breq.mcp_method = env.method.str();
    breq.session_id = s->upstream_id();
    breq.protocol_version = s->protocol_version();
    auto [failure, exchange] = co_await s->backend().send(breq);
    std::string answer;
    if (failure == backend_failure::none && exchange->is_sse()) {
      sse::event ev;
      while (co_await exchange->next_event(ev) == event_status::event) {
        if (ev.data.empty()) {
          continue;
        }
        session::mapped m = s->map_backend_message(ev.data, decoder_);
        if (m.completes == upstream_id && upstream_id >= 0) {
          answer = std::move(m.body);
          break;
        }
        // Related messages go to the GET stream when a client is there to read them; a
        // batch's JSON answer cannot carry them.
        if (!m.body.empty() && s->get_stream().attached()) {
          s->get_stream().push(std::move(m.body));
        } else if (!m.body.empty()) {
          log_.warn("message during a batch dropped: no GET stream attached",
                    {{"session", s->id()}, {"backend", s->backend().name()}});
        }
      }
      failure = exchange->failure();
    } else if (failure == backend_failure::none) {
      std::string reply;
      failure = co_await exchange->read_body(reply);
      if (failure == backend_failure::none && upstream_id >= 0) {
        session::mapped m = s->map_backend_message(reply, decoder_);
        if (m.completes == upstream_id) {
          answer = std::move(m.body);
        }
      }
    }
    if (upstream_id >= 0) {
      if (answer.empty()) {
        if (failure == backend_failure::none) {
          failure = backend_failure::protocol;
        }
        answer = s->failure_response(upstream_id, failure_code(failure),
                                     failure_message(s->backend(), failure));
      }
      s->forget_request(upstream_id);
      collect(std::move(answer));
    } else if (cancels >= 0) {
      s->abort_request(cancels);
    }
  }
  co_await send_batch_answer(*s, res, responses);
}

net::awaitable<void> streamable_http_endpoint::send_batch_answer(session& s, responder& res,
                                                                 std::string& responses) {
  if (responses.empty()) {
    co_await res.send_empty(202);  // only notifications and responses: nothing to answer
    co_return;
  }
  responses += "]";
  session_header sid{{{"Mcp-Session-Id", s.id()}}};
  co_await res.send(200, json_type, responses, sid);
}

// ---------------------------------------------------------------------------------------------
// GET and DELETE

net::awaitable<void> streamable_http_endpoint::handle_get(client_request& req, responder& res,
                                                          const route_binding& route,
                                                          const principal& who) {
  std::string_view accept = header_of(req, http::field::accept);
  if (!http_headers::parse_accept(accept).event_stream) {
    co_await send_error(
        res, 406, transport_error,
        "Accept must list text/event-stream for a GET stream, got '" + std::string(accept) + "'");
    co_return;
  }
  auto s = co_await find_session(req, res, route, who);
  if (!s) {
    co_return;
  }
  std::shared_ptr<event_stream> stream;
  std::uint64_t cursor = 0;
  bool resumed = false;
  std::string_view last = header_of(req, "last-event-id");
  std::uint64_t number = 0;
  std::uint64_t seq = 0;
  if (!last.empty()) {
    if (!parse_event_id(last, number, seq) || !(stream = s->find_stream(number))) {
      co_await send_error(res, 400, transport_error,
                          "Last-Event-ID '" + std::string(last.substr(0, 64)) +
                              "' names no stream this session still holds; open a GET stream "
                              "without it");
      co_return;
    }
    cursor = seq;
    resumed = true;
  } else {
    stream = s->find_stream(0);
    cursor = stream->delivered();
    if (stream->attached()) {
      co_await send_error(res, 409, transport_error,
                          "a GET stream is already open for this session (one per session); "
                          "resume with Last-Event-ID to take it over");
      co_return;
    }
  }
  // A resumption takes the stream over from a writer whose client went away unnoticed.
  session_header sid{{{"Mcp-Session-Id", s->id()}}};
  std::uint64_t owner = stream->attach();
  if (!resumed && s->adopted() && !s->tracking()) {
    // Taken up from another replica: what the backend sends on its own stream comes here
    // once the client listens here. Attached first, so a second GET meanwhile gets 409.
    co_await open_backend_stream(s);
    if (s->closed()) {
      stream->detach(owner);
      co_await send_error(res, 404, session_not_found,
                          "session not found (deleted while its GET stream opened); start a new "
                          "session with initialize");
      co_return;
    }
  }
  res.mark_long_lived();
  res.disable_keep_alive();
  bool ok = co_await res.start_stream(sid);
  if (ok && !resumed && wants_priming(s->protocol_version())) {
    std::string prime;
    sse::append_event(prime, stream->event_id(cursor), "", priming_retry_ms);
    ok = co_await res.write_chunk(prime);
  }
  if (ok) {
    co_await pump(stream, res, cursor, owner, true);
  }
  stream->detach(owner);
  stream->notify();
  s->touch();
  if (!res.failed() && !res.client_gone()) {
    co_await res.end_stream();
  }
}

net::awaitable<void> streamable_http_endpoint::handle_delete(client_request& req, responder& res,
                                                             const route_binding& route,
                                                             const principal& who) {
  auto s = co_await find_session(req, res, route, who);
  if (!s) {
    co_return;
  }
  end_session(s, false);
  co_await delete_upstream(s, false);
  co_await res.send_empty(200);
}

net::awaitable<void> streamable_http_endpoint::delete_upstream(std::shared_ptr<session> s,
                                                               bool background) {
  if (!s->upstream_id().empty()) {
    backend_request breq;
    breq.tenant = s->who().tenant;
    breq.method = http::verb::delete_;
    breq.session_id = s->upstream_id();
    breq.protocol_version = s->protocol_version();
    auto [failure, exchange] = co_await s->backend().send(breq);
    if (exchange) {
      std::string ignored;
      co_await exchange->read_body(ignored);
    }
    if (failure != backend_failure::none) {
      log_.warn("backend session delete failed",
                {{"session", s->id()}, {"backend", s->backend().name()}});
    }
  }
  if (background) {
    --background_;
  }
}

void streamable_http_endpoint::end_session(const std::shared_ptr<session>& s,
                                           bool delete_upstream_session) {
  forget_session(s);
  ++background_;
  net::co_spawn(ex_,
                retire(s, delete_upstream_session && !s->upstream_id().empty(), !s->is_legacy()),
                net::detached);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

void streamable_http_endpoint::start() { net::co_spawn(ex_, sweep(), net::detached); }

net::awaitable<void> streamable_http_endpoint::sweep() {
  auto interval = std::clamp<duration>(config_.session_store.idle_timeout / 4,
                                       std::chrono::milliseconds(100), std::chrono::seconds(30));
  while (!shutting_down_) {
    sweep_timer_.expires_after(interval);
    co_await sweep_timer_.async_wait(net::as_tuple(net::use_awaitable));
    if (shutting_down_) {
      break;
    }
    auto now = session::clock::now();
    std::vector<std::shared_ptr<session>> expired;
    std::vector<std::shared_ptr<session>> busy;
    for (const auto& [id, s] : sessions_) {
      if (!s->busy() && now - s->last_activity() > config_.session_store.idle_timeout) {
        expired.push_back(s);
      } else if (store_->shared() && s->busy() && !s->is_legacy()) {
        busy.push_back(s);
      }
    }
    // A session busy only with its GET stream sends no requests that would slide its record's
    // TTL: the sweep does, so the record outlives idle_timeout while the session is in use.
    for (const auto& s : busy) {
      store_result touched = co_await store_->touch(s->id(), config_.session_store.idle_timeout);
      if (touched.status == store_status::not_found && s->unpublished()) {
        co_await publish(*s);
      }
    }
    for (const auto& s : expired) {
      if (lives_elsewhere(*s)) {
        // Idle here, perhaps busy on another replica: the record's TTL decides when it ends.
        log_.debug("session idle on this replica",
                   {{"session", s->id()}, {"backend", s->backend_name()}});
        forget_session(s);
        continue;
      }
      log_.info("session expired", {{"session", s->id()}, {"backend", s->backend_name()}});
      end_session(s, true);
    }
  }
}

void streamable_http_endpoint::begin_shutdown() {
  shutting_down_ = true;
  sweep_timer_.cancel();
  std::vector<std::shared_ptr<session>> idle;
  for (const auto& [id, s] : sessions_) {
    if (s->active_requests() == 0) {
      idle.push_back(s);
    } else {
      s->get_stream().notify();  // its GET stream (if any) sees shutting_down_ and ends
    }
  }
  for (const auto& s : idle) {
    // Sessions other replicas can serve outlive this one.
    lives_elsewhere(*s) ? forget_session(s) : end_session(s, true);
  }
}

void streamable_http_endpoint::finish_shutdown() {
  std::vector<std::shared_ptr<session>> all;
  all.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    all.push_back(s);
  }
  for (const auto& s : all) {
    lives_elsewhere(*s) ? forget_session(s) : end_session(s, true);
  }
}

}  // namespace mcpgw
