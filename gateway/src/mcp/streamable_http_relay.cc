// The stream half of the Streamable HTTP endpoint: relaying a backend's response (JSON or SSE)
// to the client, writing streams to clients, and the backend's GET stream.
#include "mcp/endpoint_detail.h"
#include "mcp/streamable_http.h"
#include "mcpgw/buffer_pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>

namespace mcpgw {

using namespace endpoint_detail;

namespace {

// Keeps a backend SSE event's id and retry hint for a resumption; true when it is a message
// with data to relay (other event types and empty events are skipped).
bool note_event(const sse::event& ev, std::string& last_id, unsigned& retry_ms) {
  if (ev.has_id) {
    last_id = ev.id;
  }
  if (ev.retry_ms) {
    retry_ms = *ev.retry_ms;
  }
  return !ev.data.empty() && (ev.type.empty() || ev.type == "message");
}

// Clears the session's pointer to a request's backend exchange when the relay ends.
class exchange_guard {
 public:
  exchange_guard(session& s, std::int64_t upstream_id) : s_(s), upstream_id_(upstream_id) {}
  ~exchange_guard() { s_.attach_exchange(upstream_id_, nullptr); }
  exchange_guard(const exchange_guard&) = delete;
  exchange_guard& operator=(const exchange_guard&) = delete;

 private:
  session& s_;
  std::int64_t upstream_id_;
};

// Clears the session's pointer to its backend GET stream when that task ends.
class track_guard {
 public:
  explicit track_guard(session& s) : s_(s) {}
  ~track_guard() { s_.track(nullptr); }
  track_guard(const track_guard&) = delete;
  track_guard& operator=(const track_guard&) = delete;

 private:
  session& s_;
};

}  // namespace

net::awaitable<streamable_http_endpoint::relay_outcome> streamable_http_endpoint::relay_response(
    std::shared_ptr<session> s, std::unique_ptr<backend_exchange> exchange,
    std::int64_t upstream_id, std::string_view client_version, responder& res, bool is_initialize) {
  session_header sid{{{"Mcp-Session-Id", s->id()}}};
  http_backend& backend = s->backend();
  unsigned status = exchange->status();
  if (status == 404 && !s->upstream_id().empty()) {
    // The backend ended its session: so does the client's, and it must re-initialize.
    std::string answer = s->failure_response(
        upstream_id, session_not_found,
        "session expired at backend '" + backend.name() + "'; start a new session with initialize");
    s->forget_request(upstream_id);
    log_.warn("backend session expired", {{"session", s->id()}, {"backend", backend.name()}});
    end_session(s, false);
    co_await res.send(404, json_type, answer);
    co_return relay_outcome::failed;
  }

  if (status / 100 == 2 && exchange->is_sse()) {
    co_return co_await relay_stream(std::move(s), std::move(exchange), upstream_id, client_version,
                                    res, is_initialize);
  }

  // The answer's buffer goes back to the pool when the relay ends, and the one swapped in
  // for it stays with the connection for its next answer.
  buffer_pool::pooled answer_body;
  std::string& text = *answer_body;
  backend_failure failure = co_await exchange->read_body(text);
  if (failure != backend_failure::none) {
    std::string answer =
        s->failure_response(upstream_id, failure_code(failure), failure_message(backend, failure));
    s->forget_request(upstream_id);
    co_await res.send(200, json_type, answer, sid);
    co_return relay_outcome::failed;
  }
  if (exchange->is_json()) {
    session::mapped m = s->map_backend_message(text, decoder_);
    if (m.completes == upstream_id) {
      if (is_initialize) {
        accept_negotiated(*s, m, upstream_id);  // needs the request's client id: before forget
        if (!m.is_error) {
          co_await publish(*s);
        }
      }
      s->forget_request(upstream_id);
      co_await res.send(status / 100 == 2 ? 200 : status, json_type, m.body, sid);
      buffer_pool::give(std::move(m.body));
      co_return m.is_error ? relay_outcome::error_response : relay_outcome::completed;
    }
  }
  if (text.size() > 300) {
    text.resize(300);
    text += "...";
  }
  std::string answer = s->failure_response(
      upstream_id, jsonrpc::backend_protocol_error,
      "backend '" + backend.name() + "' answered HTTP " + std::to_string(status) +
          " without a JSON-RPC response" + (text.empty() ? "" : ": " + text));
  s->forget_request(upstream_id);
  co_await res.send(200, json_type, answer, sid);
  co_return relay_outcome::failed;
}

// The SSE half of relay_response, a coroutine of its own: its state (the stream, the pump's
// signal, the resumption request) would otherwise make every JSON relay's frame too large for
// Asio to recycle.
net::awaitable<streamable_http_endpoint::relay_outcome> streamable_http_endpoint::relay_stream(
    std::shared_ptr<session> s, std::unique_ptr<backend_exchange> exchange,
    std::int64_t upstream_id, std::string_view client_version, responder& res, bool is_initialize) {
  session_header sid{{{"Mcp-Session-Id", s->id()}}};
  http_backend& backend = s->backend();
  // This coroutine reads the backend and fills the stream; pump_post_stream writes it to the
  // client. A client that goes away does not stop the backend request (disconnection is not
  // cancellation): its events stay in the stream for a GET with Last-Event-ID.
  auto stream = s->open_post_stream();
  std::uint64_t owner = stream->attach();
  bool pump_done = true;
  net::steady_timer pump_signal(ex_, net::steady_timer::time_point::max());
  co_await start_post_stream(stream, res, sid, client_version, owner, pump_done, pump_signal);
  if (pump_done) {
    stream->detach(owner);
  }
  s->attach_exchange(upstream_id, exchange.get());
  // Whatever ends this coroutine (even its frame being destroyed at shutdown), the session
  // must not keep a pointer to the exchange.
  exchange_guard guard(*s, upstream_id);
  relay_outcome outcome = relay_outcome::failed;
  std::string backend_last_id;
  unsigned backend_retry_ms = 1000;
  int resumptions = 0;
  sse::event ev;
  while (true) {
    event_status st = co_await exchange->next_event(ev);
    if (st == event_status::event) {
      if (!note_event(ev, backend_last_id, backend_retry_ms)) {
        continue;
      }
      session::mapped m = s->map_backend_message(ev.data, decoder_);
      if (m.body.empty()) {
        continue;
      }
      bool completes = m.completes == upstream_id;
      if (completes && is_initialize) {
        accept_negotiated(*s, m, upstream_id);  // may turn the result into an error
        if (!m.is_error) {
          co_await publish(*s);
        }
      }
      if (!co_await stream->wait_for_room() && s->closed()) {
        break;
      }
      stream->push(std::move(m.body));
      if (completes) {
        outcome = m.is_error ? relay_outcome::error_response : relay_outcome::completed;
        break;
      }
      continue;
    }
    if (s->request_cancelled(upstream_id) || s->closed()) {
      break;
    }
    // The backend closed its stream before the response: resume it (SEP-1699 polling) when
    // it gave us an event id to resume from.
    backend_failure failure = exchange->failure();
    if (!backend_last_id.empty() && resumptions < max_backend_resumptions &&
        failure != backend_failure::timeout) {
      ++resumptions;
      net::steady_timer wait(ex_);
      wait.expires_after(std::chrono::milliseconds(std::min(backend_retry_ms, 5000U)));
      co_await wait.async_wait(net::as_tuple(net::use_awaitable));
      backend_request resume;
      resume.tenant = s->who().tenant;
      resume.method = http::verb::get;
      resume.session_id = s->upstream_id();
      resume.protocol_version = s->protocol_version();
      resume.last_event_id = backend_last_id;
      auto [f, next] = co_await backend.send(resume);
      if (f == backend_failure::none && next->status() == 200 && next->is_sse()) {
        exchange = std::move(next);
        s->attach_exchange(upstream_id, exchange.get());
        continue;
      }
      failure = f == backend_failure::none ? backend_failure::protocol : f;
    }
    std::string message = failure_message(
        backend, failure == backend_failure::none ? backend_failure::protocol : failure);
    if (failure != backend_failure::timeout) {
      message += " (its response stream ended before the result)";
    }
    stream->push(s->failure_response(
        upstream_id,
        failure_code(failure == backend_failure::none ? backend_failure::protocol : failure),
        message));
    break;
  }
  s->forget_request(upstream_id);
  stream->finish();
  while (!pump_done) {
    co_await pump_signal.async_wait(net::as_tuple(net::use_awaitable));
  }
  stream->detach(owner);
  if (!res.failed()) {
    co_await res.end_stream();
  }
  co_return outcome;
}

// ---------------------------------------------------------------------------------------------
// The backend's GET stream

net::awaitable<void> streamable_http_endpoint::open_backend_stream(std::shared_ptr<session> s) {
  backend_request breq;
  breq.tenant = s->who().tenant;
  breq.method = http::verb::get;
  breq.session_id = s->upstream_id();
  breq.protocol_version = s->protocol_version();
  breq.stream = true;
  auto [failure, exchange] = co_await s->backend().send(breq);
  if (failure != backend_failure::none) {
    log_.warn("backend GET stream failed to open",
              {{"session", s->id()},
               {"backend", s->backend_name()},
               {"error", failure_message(s->backend(), failure)}});
    co_return;
  }
  if (exchange->status() != 200 || !exchange->is_sse()) {
    log_.debug("backend offers no GET stream",
               {{"session", s->id()}, {"status", std::to_string(exchange->status())}});
    co_return;
  }
  // Owned by the session: closing it aborts the exchange, which ends the task.
  net::co_spawn(ex_, run_backend_stream(s, std::move(exchange)), net::detached);
}

net::awaitable<void> streamable_http_endpoint::run_backend_stream(
    std::shared_ptr<session> s, std::unique_ptr<backend_exchange> exchange) {
  std::string last_id;
  unsigned retry_ms = 1000;
  int failures = 0;
  s->track(exchange.get());
  track_guard guard(*s);
  auto opened = std::chrono::steady_clock::now();
  while (!s->closed()) {
    sse::event ev;
    // exchange is null after a failed reconnect: go straight to the next attempt.
    if (exchange && co_await exchange->next_event(ev) == event_status::event) {
      failures = 0;
      if (!note_event(ev, last_id, retry_ms)) {
        continue;
      }
      session::mapped m = s->map_backend_message(ev.data, decoder_);
      if (m.body.empty()) {
        continue;
      }
      if (!co_await s->get_stream().wait_for_room()) {
        break;
      }
      s->get_stream().push(std::move(m.body));
      continue;
    }
    if (exchange) {
      s->untrack(exchange.get());
      exchange.reset();
      // A stream that lived a while and then ended (an idle timeout on the way) is normal;
      // only quick failures in a row give up on it.
      if (std::chrono::steady_clock::now() - opened > std::chrono::seconds(10)) {
        failures = 0;
      }
    }
    if (s->closed() || shutting_down_ || ++failures > max_backend_resumptions) {
      break;
    }
    net::steady_timer wait(ex_);
    wait.expires_after(std::chrono::milliseconds(std::min<unsigned>(retry_ms * failures, 30000)));
    co_await wait.async_wait(net::as_tuple(net::use_awaitable));
    if (s->closed()) {
      break;
    }
    backend_request breq;
    breq.tenant = s->who().tenant;
    breq.method = http::verb::get;
    breq.session_id = s->upstream_id();
    breq.protocol_version = s->protocol_version();
    breq.last_event_id = last_id;
    breq.stream = true;
    auto [failure, next] = co_await s->backend().send(breq);
    if (failure != backend_failure::none) {
      continue;
    }
    if (next->status() == 404) {
      log_.warn("backend session expired", {{"session", s->id()}, {"backend", s->backend_name()}});
      end_session(s, false);
      break;
    }
    if (next->status() != 200 || !next->is_sse()) {
      break;
    }
    exchange = std::move(next);
    s->track(exchange.get());
    opened = std::chrono::steady_clock::now();
  }
  if (exchange) {
    s->untrack(exchange.get());
  }
}

net::awaitable<void> streamable_http_endpoint::pump(std::shared_ptr<event_stream> stream,
                                                    responder& res, std::uint64_t cursor,
                                                    std::uint64_t owner, bool long_lived) {
  // A long-lived stream watches the client's side of the connection, so a client that goes
  // away frees the stream at once instead of at the next failed keep-alive write.
  bool watching = false;
  bool stop_watching = false;
  net::steady_timer watch_signal(ex_, net::steady_timer::time_point::max());
  if (long_lived) {
    watching = true;
    net::co_spawn(ex_, watch_client(res, stream, watching, stop_watching, watch_signal),
                  net::detached);
  }
  bool ok = !res.failed();
  while (ok) {
    while (ok) {
      const event_stream::entry* e = stream->next_after(cursor);
      if (!e) {
        break;
      }
      cursor = e->seq;
      ok = co_await res.write_chunk(format_event(*stream, e->seq, e->data));
      if (ok) {
        stream->mark_delivered(cursor);
      }
    }
    if (!ok || stream->finished() || res.client_gone() || !stream->owned_by(owner) ||
        (long_lived && shutting_down_)) {
      break;
    }
    if (!co_await stream->wait_change(config_.limits.sse_keepalive)) {
      std::string comment;
      sse::append_comment(comment, "keepalive");
      ok = co_await res.write_chunk(comment);
    }
  }
  if (watching) {
    stop_watching = true;  // our own cancel below is not the client going away
    boost::system::error_code ignored;
    res.stream().tcp().socket().cancel(ignored);
    while (watching) {
      co_await watch_signal.async_wait(net::as_tuple(net::use_awaitable));
    }
  }
}

net::awaitable<void> streamable_http_endpoint::start_post_stream(
    std::shared_ptr<event_stream> stream, responder& res, header_list headers,
    std::string_view client_version, std::uint64_t owner, bool& pump_done,
    net::steady_timer& pump_signal) {
  if (!co_await res.start_stream(headers)) {
    co_return;
  }
  bool primed = true;
  if (wants_priming(client_version)) {
    std::string prime;
    sse::append_event(prime, stream->event_id(0), "", priming_retry_ms);
    primed = co_await res.write_chunk(prime);
  }
  if (primed) {
    pump_done = false;
    net::co_spawn(ex_, pump_post_stream(stream, res, owner, pump_done, pump_signal), net::detached);
  }
}

net::awaitable<void> streamable_http_endpoint::pump_post_stream(
    std::shared_ptr<event_stream> stream, responder& res, std::uint64_t owner, bool& done,
    net::steady_timer& done_signal) {
  co_await pump(stream, res, 0, owner, false);
  if (res.failed()) {
    stream->detach(owner);  // what follows waits for a GET with Last-Event-ID
  }
  done = true;
  done_signal.cancel();
}

net::awaitable<void> streamable_http_endpoint::watch_client(responder& res,
                                                            std::shared_ptr<event_stream> stream,
                                                            bool& running, const bool& stop,
                                                            net::steady_timer& done_signal) {
  // Anything the client sends on a stream's connection is discarded: the connection closes
  // after the stream. Only the end of the connection matters.
  std::array<char, 512> sink{};
  while (!stop) {
    auto [ec, n] =
        co_await res.stream().async_read_some(net::buffer(sink), net::as_tuple(net::use_awaitable));
    if (ec) {
      break;
    }
  }
  if (!stop) {
    res.mark_client_gone();
    stream->notify();
  }
  running = false;
  done_signal.cancel();
}

}  // namespace mcpgw
