// The HTTP+SSE transport of MCP 2024-11-05 on the client side: `GET <route>/sse` opens the
// session's one stream and names the message endpoint in an `endpoint` event; `POST
// <route>/message?sessionId=…` takes one message (or batch), answers 202 at once, and every
// reply reaches the client as an `event: message` on the stream. The session ends with its
// stream. Backends are the same as for Streamable HTTP (HTTP or stdio), with the same session
// rules (route binding, limits, idle expiry, shutdown).
#include "http/query_param.h"
#include "mcp/endpoint_detail.h"
#include "mcp/streamable_http.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpgw {

using namespace endpoint_detail;

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

}  // namespace

std::string streamable_http_endpoint::legacy_path(const route_binding& route, legacy_kind kind) {
  std::string path = route.path;
  if (path.empty() || path.back() != '/') {
    path += '/';
  }
  return path + (kind == legacy_kind::sse ? "sse" : "message");
}

net::awaitable<void> streamable_http_endpoint::handle_legacy(client_request& req, responder& res,
                                                             const route_binding& route,
                                                             legacy_kind kind) {
  if (auto refused = origin_refusal(req)) {
    co_await send_error(res, 403, transport_error, *refused);
    co_return;
  }
  http::verb wanted = kind == legacy_kind::sse ? http::verb::get : http::verb::post;
  if (req.method() != wanted) {
    static constexpr std::pair<std::string_view, std::string_view> allow_get[] = {{"Allow", "GET"}};
    static constexpr std::pair<std::string_view, std::string_view> allow_post[] = {
        {"Allow", "POST"}};
    co_await send_error(
        res, 405, transport_error,
        "method " + std::string(req.method_string()) + " is not allowed on " +
            legacy_path(route, kind) + "; use " + (kind == legacy_kind::sse ? "GET" : "POST"),
        {}, kind == legacy_kind::sse ? header_list(allow_get) : header_list(allow_post));
    co_return;
  }
  principal who;
  if (chain_) {
    const bool admitted = co_await admit(req, res, route, client_transport::legacy_sse, who);
    if (!admitted) {
      co_return;
    }
  }
  if (kind == legacy_kind::sse) {
    co_await legacy_open(req, res, route, who);
  } else {
    co_await legacy_post(req, res, route, who);
  }
}

net::awaitable<void> streamable_http_endpoint::legacy_open(client_request& req, responder& res,
                                                           const route_binding& route,
                                                           const principal& who) {
  std::string_view accept = header_of(req, http::field::accept);
  if (!accept.empty() && !http_headers::parse_accept(accept).event_stream) {
    co_await send_error(res, 406, transport_error,
                        "Accept must list text/event-stream for the HTTP+SSE stream, got '" +
                            std::string(accept) + "'");
    co_return;
  }
  if (shutting_down_) {
    co_await send_error(res, 503, transport_error,
                        "the gateway is shutting down; retry on another replica");
    co_return;
  }
  if (!take_session_slot()) {
    co_await send_error(res, 503, transport_error,
                        "too many sessions (session_store.max_sessions = " +
                            std::to_string(config_.session_store.max_sessions) +
                            "); retry later or raise the limit");
    co_return;
  }
  auto s = new_session(route, who);
  s->set_legacy();
  s->set_protocol_version(legacy_protocol_version);
  sessions_.emplace(s->id(), s);
  note_held();
  log_.info("legacy session opened",
            {{"session", s->id()}, {"route", route.path}, {"backend", s->backend_name()}});
  auto stream = s->find_stream(0);
  std::uint64_t owner = stream->attach();
  res.mark_long_lived();
  res.disable_keep_alive();
  bool ok = co_await res.start_stream({});
  if (ok) {
    std::string endpoint;
    sse::append_event(endpoint, {},
                      legacy_path(route, legacy_kind::message) + "?sessionId=" + s->id(),
                      std::nullopt, "endpoint");
    ok = co_await res.write_chunk(endpoint);
  }
  if (ok) {
    co_await pump(stream, res, 0, owner, true);
  }
  stream->detach(owner);
  // The HTTP+SSE session lives as long as its stream.
  if (!s->closed()) {
    log_.info("legacy session ended", {{"session", s->id()}, {"backend", s->backend_name()}});
    end_session(s, true);
  }
  if (!res.failed() && !res.client_gone()) {
    co_await res.end_stream();
  }
}

net::awaitable<void> streamable_http_endpoint::legacy_post(client_request& req, responder& res,
                                                           const route_binding& route,
                                                           const principal& who) {
  std::string_view id = query_param(req.target(), "sessionId");
  if (id.empty()) {
    co_await send_error(res, 400, transport_error,
                        "missing sessionId in the query string; open " +
                            legacy_path(route, legacy_kind::sse) +
                            " first and post to the endpoint it names");
    co_return;
  }
  auto it = sessions_.find(id);
  if (it == sessions_.end() || !it->second->is_legacy() || it->second->route().path != route.path ||
      !it->second->who().same_as(who)) {
    co_await send_error(res, 404, session_not_found,
                        "session not found (its SSE stream closed, or it expired); open " +
                            legacy_path(route, legacy_kind::sse) + " again");
    co_return;
  }
  std::shared_ptr<session> s = it->second;
  if (auto refused = json_type_refusal(req)) {
    co_await send_error(res, 415, transport_error, *refused);
    co_return;
  }
  jsonrpc::decoded_body decoded = decoder_.decode_body(req.body());
  if (decoded.problem_code != 0) {
    co_await send_error(res, 400, decoded.problem_code, decoded.problem,
                        decoded.single.id.in(req.body()));
    co_return;
  }
  s->touch();
  // Accepted now; what the backend answers goes on the stream.
  ++background_;
  net::co_spawn(ex_,
                legacy_process(s, std::make_shared<const principal>(who), std::move(req.body())),
                net::detached);
  co_await res.send(202, "text/plain", "Accepted");
}

net::awaitable<void> streamable_http_endpoint::legacy_process(std::shared_ptr<session> s,
                                                              std::shared_ptr<const principal> who,
                                                              std::string body) {
  struct count_task {
    int& n;
    ~count_task() { --n; }
  } counted{background_};
  active_request guard(s);
  jsonrpc::decoded_body decoded = decoder_.decode_body(body);
  std::vector<std::string> messages;
  if (decoded.batch) {
    for (const auto& element : decoded.elements) {
      messages.emplace_back(element.in(body));
    }
  } else {
    messages.push_back(std::move(body));
  }
  for (const std::string& text : messages) {
    if (s->closed()) {
      break;
    }
    jsonrpc::envelope env = decoder_.decode(text);
    if (env.kind != jsonrpc::message_kind::invalid) {
      // The POST was answered 202 already: a stop becomes the request's error on the stream.
      local_reply refusal;
      filter_status admitted = filter_status::next;
      if (s->filters() != nullptr) {  // no coroutine frame without filters
        admitted = co_await filter_message(*s, *who, nullptr, text, env, refusal);
      }
      if (admitted == filter_status::stop) {
        if (env.kind == jsonrpc::message_kind::request) {
          co_await legacy_room(s);
          legacy_push(*s, jsonrpc::make_error(env.id.in(text), refusal.code, refusal.message));
        }
        continue;
      }
    }
    staged_completion staged(
        *s, env.kind == jsonrpc::message_kind::request ? env.id.in(text) : std::string_view());
    switch (env.kind) {
      case jsonrpc::message_kind::invalid:
        co_await legacy_room(s);
        legacy_push(*s, jsonrpc::make_error(env.id.in(text), env.problem_code, env.problem));
        break;
      case jsonrpc::message_kind::request:
        if (env.method.str() == "initialize" && s->initialized()) {
          staged.failed(jsonrpc::invalid_request, "this session is already initialized");
          co_await legacy_room(s);
          legacy_push(*s, jsonrpc::make_error(env.id.in(text), jsonrpc::invalid_request,
                                              "this session is already initialized"));
        } else if (env.method.str() != "initialize" && !s->initialized()) {
          staged.failed(jsonrpc::invalid_request,
                        "send initialize first: the session is not initialized");
          co_await legacy_room(s);
          legacy_push(*s,
                      jsonrpc::make_error(env.id.in(text), jsonrpc::invalid_request,
                                          "send initialize first: the session is not initialized"));
        } else {
          co_await legacy_request(s, text, env);
        }
        break;
      case jsonrpc::message_kind::notification: {
        std::int64_t cancels = -1;
        auto mapped = s->map_client_notification(text, env, cancels);
        if (mapped) {
          co_await legacy_forward(s, std::move(*mapped), env, cancels);
        }
        break;
      }
      case jsonrpc::message_kind::result:
      case jsonrpc::message_kind::error: {
        auto mapped = s->map_client_response(text, env);
        if (!mapped) {
          log_.warn("legacy client answered a request that is not pending",
                    {{"session", s->id()}, {"id", env.id.in(text)}});
          break;
        }
        co_await legacy_forward(s, std::move(*mapped), env, -1);
        break;
      }
    }
  }
}

net::awaitable<void> streamable_http_endpoint::legacy_room(std::shared_ptr<session> s) {
  if (!s->closed()) {
    co_await s->get_stream().wait_for_room();
  }
}

void streamable_http_endpoint::legacy_push(session& s, std::string message) {
  if (!s.closed()) {
    s.get_stream().push(std::move(message));
  }
}

net::awaitable<void> streamable_http_endpoint::legacy_request(std::shared_ptr<session> s,
                                                              std::string_view text,
                                                              const jsonrpc::envelope& env) {
  const bool is_initialize = env.method.str() == "initialize";
  std::string client_id(env.id.in(text));
  if (s->is_stdio()) {
    if (is_initialize) {
      // The same warm pool as Streamable HTTP sessions.
      std::string warm_request = jsonrpc::splice(text, env.id, stdio_backend::warmup_id);
      refill_after_answer refill(s->route().stdio);
      channel_lease lease = co_await acquire_channel(*s, warm_request, false);
      if (!lease.channel || s->closed()) {
        if (lease.channel) {
          lease.channel->stop();
        }
        co_await legacy_room(s);
        legacy_push(*s, jsonrpc::make_error(client_id, jsonrpc::backend_unavailable, lease.error));
        s->unstage_completion(client_id, request_outcome::error, jsonrpc::backend_unavailable,
                              lease.error);
        co_return;
      }
      s->set_channel(lease.channel);
      lease.channel->attach(make_stdio_link(s), s->id());
      if (lease.initialized) {
        bool accepted = false;
        std::string answer = warm_answer(*s, text, env, accepted);
        if (accepted) {
          s->set_initialized();
        }
        co_await legacy_room(s);
        legacy_push(*s, std::move(answer));
        co_return;
      }
      if (co_await legacy_stdio_request(s, text, env, true)) {
        s->set_initialized();
        if (s->route().stdio) {
          s->route().stdio->learn(std::move(warm_request));
        }
      }
      co_return;
    }
    co_await legacy_stdio_request(s, text, env, false);
    co_return;
  }

  // HTTP backend: the response (JSON, or SSE with related messages) all goes on the stream.
  http_backend& backend = s->backend();
  std::int64_t upstream_id = 0;
  std::string upstream_body = s->map_client_request(text, env, upstream_id);
  backend_request breq;
  breq.tenant = s->who().tenant;
  breq.body = upstream_body;
  breq.mcp_method = env.method.str();
  breq.session_id = s->upstream_id();
  breq.protocol_version = is_initialize ? std::string_view() : s->protocol_version();
  auto [failure, exchange] = co_await backend.send(breq);
  if (failure != backend_failure::none) {
    std::string answer =
        s->failure_response(upstream_id, failure_code(failure), failure_message(backend, failure));
    s->forget_request(upstream_id);
    co_await legacy_room(s);
    legacy_push(*s, std::move(answer));
    co_return;
  }
  if (is_initialize) {
    s->set_upstream_id(exchange->header("mcp-session-id"));
  }
  unsigned status = exchange->status();
  if (status == 404 && !s->upstream_id().empty() && !is_initialize) {
    std::string answer = s->failure_response(
        upstream_id, session_not_found,
        "session expired at backend '" + backend.name() + "'; open the SSE stream again");
    s->forget_request(upstream_id);
    co_await legacy_room(s);
    legacy_push(*s, std::move(answer));
    end_session(s, false);
    co_return;
  }
  bool completed = false;
  bool ok = false;
  auto take = [&](session::mapped& m) {
    if (m.completes == upstream_id) {
      if (is_initialize) {
        ok = accept_negotiated(*s, m, upstream_id) && !m.is_error;
      }
      completed = true;
    }
  };
  if (status / 100 == 2 && exchange->is_sse()) {
    s->attach_exchange(upstream_id, exchange.get());
    sse::event ev;
    while (!completed && co_await exchange->next_event(ev) == event_status::event) {
      if (ev.data.empty() || (!ev.type.empty() && ev.type != "message")) {
        continue;
      }
      session::mapped m = s->map_backend_message(ev.data, decoder_);
      take(m);
      if (!m.body.empty()) {
        co_await legacy_room(s);
        legacy_push(*s, std::move(m.body));
      }
    }
    s->attach_exchange(upstream_id, nullptr);
    failure = exchange->failure();
  } else {
    std::string reply;
    failure = co_await exchange->read_body(reply);
    if (failure == backend_failure::none && exchange->is_json()) {
      session::mapped m = s->map_backend_message(reply, decoder_);
      take(m);
      if (!m.body.empty()) {
        co_await legacy_room(s);
        legacy_push(*s, std::move(m.body));
      }
    }
  }
  if (!completed && !s->request_cancelled(upstream_id)) {
    if (failure == backend_failure::none) {
      failure = backend_failure::protocol;
    }
    co_await legacy_room(s);
    legacy_push(*s, s->failure_response(upstream_id, failure_code(failure),
                                        failure_message(backend, failure) + " (HTTP " +
                                            std::to_string(status) + ")"));
  }
  s->forget_request(upstream_id);
  if (is_initialize) {
    if (ok) {
      s->set_initialized();
      count_started(s->route());
      log_.info("session started", {{"session", s->id()},
                                    {"tenant", s->who().tenant},
                                    {"route", s->route().path},
                                    {"backend", backend.name()},
                                    {"transport", "sse"},
                                    {"protocol", s->protocol_version()}});
    } else if (!s->upstream_id().empty()) {
      ++background_;
      net::co_spawn(ex_, delete_upstream(s, true), net::detached);
      s->set_upstream_id({});
    }
  }
}

net::awaitable<bool> streamable_http_endpoint::legacy_stdio_request(std::shared_ptr<session> s,
                                                                    std::string_view text,
                                                                    const jsonrpc::envelope& env,
                                                                    bool is_initialize) {
  std::int64_t upstream_id = 0;
  std::string upstream_body = s->map_client_request(text, env, upstream_id);
  net::steady_timer watchdog(ex_);
  // Answers go straight onto the session's one stream (which they do not end).
  s->set_sink(upstream_id, s->find_stream(0), &watchdog, is_initialize);
  if (!s->channel()->send(upstream_body)) {
    std::string answer = s->failure_response(upstream_id, jsonrpc::backend_unavailable,
                                             stdio_failure(*s, "is not accepting input"));
    s->forget_request(upstream_id);
    co_await legacy_room(s);
    legacy_push(*s, std::move(answer));
    co_return false;
  }
  const duration timeout = s->route().channel_timeout();
  const auto hard_deadline = std::chrono::steady_clock::now() + config_.limits.max_call_duration;
  while (!s->answered(upstream_id) && !s->closed() && !s->request_cancelled(upstream_id)) {
    watchdog.expires_at(std::min(std::chrono::steady_clock::now() + timeout, hard_deadline));
    auto [ec] = co_await watchdog.async_wait(tuple_awaitable);
    if (!ec && !s->answered(upstream_id) && !s->closed()) {
      s->mark_answered(upstream_id);  // a late answer is dropped
      s->channel()->send(
          R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
          std::to_string(upstream_id) + R"(,"reason":"the gateway's deadline passed"}})");
      co_await legacy_room(s);
      legacy_push(*s, s->failure_response(upstream_id, jsonrpc::backend_timeout,
                                          stdio_failure(*s, deadline_words(*s))));
      s->forget_request(upstream_id);
      co_return false;
    }
  }
  bool ok = s->answered(upstream_id) && !s->closed() &&
            (!is_initialize || s->protocol_version() == legacy_protocol_version ||
             http_headers::is_supported_protocol_version(s->protocol_version()));
  s->clear_sink(upstream_id);
  s->forget_request(upstream_id);
  co_return ok;
}

net::awaitable<void> streamable_http_endpoint::legacy_forward(std::shared_ptr<session> s,
                                                              std::string mapped,
                                                              const jsonrpc::envelope& env,
                                                              std::int64_t cancels) {
  bool initialized = env.kind == jsonrpc::message_kind::notification &&
                     env.method.str() == "notifications/initialized";
  if (s->is_stdio()) {
    if (!s->channel()) {
      co_return;  // nothing was initialized: nobody to tell
    }
    if (initialized && s->absorb_initialized()) {
      s->set_absorb_initialized(false);
    } else {
      s->channel()->send(mapped);
    }
    if (cancels >= 0) {
      s->abort_request(cancels);
      s->poke(cancels);
    }
    if (initialized) {
      s->set_ready();
    }
    co_return;
  }
  backend_request breq;
  breq.tenant = s->who().tenant;
  breq.body = mapped;
  breq.session_id = s->upstream_id();
  breq.protocol_version = s->protocol_version();
  auto [failure, exchange] = co_await s->backend().send(breq);
  if (exchange) {
    std::string ignored;
    co_await exchange->read_body(ignored);
  }
  if (failure != backend_failure::none || (exchange && exchange->status() / 100 != 2)) {
    log_.warn("legacy message not delivered to the backend",
              {{"session", s->id()},
               {"backend", s->backend_name()},
               {"method", env.method.str()},
               {"status", exchange ? std::to_string(exchange->status()) : "none"}});
    co_return;
  }
  if (cancels >= 0) {
    s->abort_request(cancels);
  }
  if (initialized && !s->ready()) {
    s->set_ready();
    co_await open_backend_stream(s);
  }
}

}  // namespace mcpgw
