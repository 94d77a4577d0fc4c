// The stdio half of the Streamable HTTP endpoint: sessions whose backend is a child process.
// Every message of the process arrives on its stdout; deliver() sorts it onto the stream of the
// request it answers or concerns (progress), else the GET stream when the client holds one,
// else the stream of the newest request still open (a server request during a tool call), else
// the GET stream's buffer. A request's relay answers with JSON when the answer is the only
// message, and with SSE otherwise.
#include "backend/sse_backend.h"
#include "mcp/endpoint_detail.h"
#include "mcp/streamable_http.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>

namespace mcpgw {

using namespace endpoint_detail;

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

// Clears a request's sink (and the pointer to the relay's watchdog) when the relay ends.
class sink_guard {
 public:
  sink_guard(session& s, std::int64_t upstream_id) : s_(s), upstream_id_(upstream_id) {}
  ~sink_guard() { s_.clear_sink(upstream_id_); }
  sink_guard(const sink_guard&) = delete;
  sink_guard& operator=(const sink_guard&) = delete;

 private:
  session& s_;
  std::int64_t upstream_id_;
};

// A request's stream ends with its answer; a legacy session's one stream goes on.
void end_sink(const session& s, event_stream& stream) {
  if (!s.is_legacy()) {
    stream.finish();
  }
}

std::string cancel_notification(std::int64_t upstream_id, std::string_view reason) {
  return R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
         std::to_string(upstream_id) + R"(,"reason":)" + jsonrpc::quote(reason) + "}}";
}

}  // namespace

// What a session's process says, handed to the endpoint.
class streamable_http_endpoint::stdio_link final : public channel_listener {
 public:
  stdio_link(streamable_http_endpoint& endpoint, std::weak_ptr<session> s)
      : endpoint_(endpoint), session_(std::move(s)) {}

  net::awaitable<void> on_message(std::string message) override {
    if (auto s = session_.lock()) {
      co_await endpoint_.deliver(s, std::move(message));
    }
  }
  void on_oversize(std::string_view id, std::size_t size) override {
    if (auto s = session_.lock()) {
      endpoint_.oversize(s, id, size);
    }
  }
  void on_exit(const std::string& why) override {
    if (auto s = session_.lock()) {
      endpoint_.process_exited(s, why);
    }
  }

 private:
  streamable_http_endpoint& endpoint_;
  std::weak_ptr<session> session_;
};

std::shared_ptr<channel_listener> streamable_http_endpoint::make_stdio_link(
    const std::shared_ptr<session>& s) {
  return std::make_shared<stdio_link>(*this, s);
}

std::string streamable_http_endpoint::stdio_failure(const session& s, std::string_view what) const {
  return "backend '" + s.backend_name() + "' " + std::string(what);
}

std::string streamable_http_endpoint::deadline_words(const session& s) const {
  if (s.route().aggregate != nullptr) {
    return "did not answer within its deadline (the longest timeout of the route's backends, "
           "plus 5 s: " +
           std::to_string(s.route().channel_timeout().count()) + " ms of silence)";
  }
  return "did not answer within its deadline (" + std::string(s.route().stdio ? "stdio" : "sse") +
         ".timeout " + std::to_string(s.route().channel_timeout().count()) +
         " ms of silence, limits.max_call_duration " +
         std::to_string(config_.limits.max_call_duration.count()) + " ms in all)";
}

net::awaitable<void> streamable_http_endpoint::deliver(std::shared_ptr<session> s,
                                                       std::string message) {
  if (s->closed()) {
    co_return;
  }
  session::mapped m = s->map_backend_message(message, decoder_);
  if (m.body.empty()) {
    if (m.completes < 0) {
      log_.debug("stdio message dropped (unknown id or not JSON-RPC)",
                 {{"session", s->id()}, {"message", std::string_view(message).substr(0, 200)}});
    }
    co_return;
  }
  if (m.completes >= 0) {
    session::sink_view sink = s->sink_of(m.completes);
    if (!sink.stream || sink.stream->finished()) {
      co_return;  // the relay gave up (timeout, cancellation): nobody waits for it
    }
    if (sink.is_initialize) {
      accept_negotiated(*s, m, m.completes);
    }
    s->mark_answered(m.completes);
    co_await sink.stream->wait_for_room();
    sink.stream->push(std::move(m.body));
    end_sink(*s, *sink.stream);
    s->poke(m.completes);
    co_return;
  }
  std::shared_ptr<event_stream> target;
  if (m.related >= 0) {
    target = s->sink_of(m.related).stream;
    s->poke(m.related);
  }
  if (!target || target->finished()) {
    std::int64_t request = -1;
    target = s->get_stream().attached() ? s->find_stream(0) : s->newest_open_sink(request);
    if (request >= 0) {
      s->poke(request);  // its relay turns the response into a stream now
    }
  }
  if (!target) {
    target = s->find_stream(0);  // held until the client opens its GET stream
  }
  if (!co_await target->wait_for_room() && s->closed()) {
    co_return;
  }
  target->push(std::move(m.body));
}

void streamable_http_endpoint::oversize(const std::shared_ptr<session>& s, std::string_view id,
                                        std::size_t size) {
  std::int64_t upstream_id = -1;
  auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), upstream_id);
  if (id.empty() || ec != std::errc() || ptr != id.data() + id.size()) {
    return;  // not an answer we can place: logged by the process
  }
  session::sink_view sink = s->sink_of(upstream_id);
  if (!sink.stream || sink.stream->finished()) {
    return;
  }
  s->mark_answered(upstream_id);
  sink.stream->push(s->failure_response(
      upstream_id, jsonrpc::backend_protocol_error,
      stdio_failure(*s, "answered with a message of " + std::to_string(size) +
                            " bytes, over limits.max_backend_message (" +
                            std::to_string(config_.limits.max_backend_message) + ")")));
  end_sink(*s, *sink.stream);
  s->poke(upstream_id);
}

void streamable_http_endpoint::process_exited(const std::shared_ptr<session>& s,
                                              const std::string& why) {
  if (s->closed()) {
    return;
  }
  std::string message = stdio_failure(*s, why + " before answering");
  for (std::int64_t upstream_id : s->unanswered()) {
    session::sink_view sink = s->sink_of(upstream_id);
    if (sink.stream && !sink.stream->finished()) {
      s->mark_answered(upstream_id);
      sink.stream->push(s->failure_response(upstream_id, jsonrpc::backend_unavailable, message));
      sink.stream->finish();
      s->poke(upstream_id);
    }
  }
  log_.warn("session ended: its backend channel ended",
            {{"session", s->id()}, {"backend", s->backend_name()}, {"status", why}});
  s->set_end_reason(stdio_failure(*s, why));
  end_session(s, false);
}

// ---------------------------------------------------------------------------------------------
// initialize

std::string streamable_http_endpoint::warm_answer(session& s, std::string_view body,
                                                  const jsonrpc::envelope& env, bool& accepted) {
  const std::string& answer = s.channel()->init_response();
  jsonrpc::envelope result = decoder_.decode(answer);
  std::int64_t upstream_id = 0;
  s.map_client_request(body, env, upstream_id);
  session::mapped m;
  m.body = jsonrpc::splice(answer, result.id, env.id.in(body));
  m.protocol_version.assign(result.protocol_version.str());
  accepted = accept_negotiated(s, m, upstream_id);
  s.answer_locally(upstream_id, m.body, m.is_error);
  s.forget_request(upstream_id);
  // The pool sent notifications/initialized already.
  s.set_absorb_initialized(true);
  return std::move(m.body);
}

net::awaitable<streamable_http_endpoint::channel_lease> streamable_http_endpoint::acquire_channel(
    const session& s, std::string_view warm_request, bool refill_now) {
  channel_lease out;
  const route_binding& route = s.route();
  if (route.aggregate != nullptr) {
    out.channel = aggregate::aggregator::create(ex_, *route.aggregate, s.who().tenant);
    co_return out;
  }
  if (route.stdio) {
    stdio_backend::lease lease =
        co_await route.stdio->acquire(warm_request, s.who().tenant, refill_now);
    if (lease.process && lease.process->ended()) {
      lease.error = stdio_failure(s, "process exited at start (" + lease.process->status() + ")");
      lease.process.reset();
    }
    out.error = std::move(lease.error);
    out.at_capacity = lease.at_capacity;
    out.initialized = lease.initialized;
    if (lease.process) {
      out.pid = std::to_string(lease.process->pid());
      out.channel = std::move(lease.process);
    }
    co_return out;
  }
  auto channel = std::make_shared<sse_channel>(*route.backend, log_, s.who().tenant);
  std::string why;
  if (co_await channel->open(why)) {
    out.channel = std::move(channel);
  } else {
    out.error =
        stdio_failure(s, why + " (legacy SSE backend " + route.backend->config().http.url + ")");
  }
  co_return out;
}

net::awaitable<void> streamable_http_endpoint::initialize_stdio(client_request& req, responder& res,
                                                                const route_binding& route,
                                                                const jsonrpc::envelope& env,
                                                                std::shared_ptr<session> s,
                                                                staged_completion& staged) {
  const std::string& body = req.body();
  std::string client_id(env.id.in(body));

  // The pool's warm processes got exactly this message (with the pool's id): one of them can
  // take this client without a round trip.
  std::string warm_request = jsonrpc::splice(body, env.id, stdio_backend::warmup_id);
  refill_after_answer refill(route.stdio);
  channel_lease lease = co_await acquire_channel(*s, warm_request, false);
  if (!lease.channel) {
    log_.warn("session refused",
              {{"backend", route.backend_name()}, {"route", route.path}, {"error", lease.error}});
    static constexpr std::pair<std::string_view, std::string_view> retry[] = {{"Retry-After", "1"}};
    staged.failed(jsonrpc::backend_unavailable, lease.error);
    co_await send_error(res, lease.at_capacity ? 503 : 200, jsonrpc::backend_unavailable,
                        lease.error, client_id,
                        lease.at_capacity ? header_list(retry) : header_list());
    co_return;
  }
  s->set_channel(lease.channel);
  lease.channel->attach(make_stdio_link(s), s->id());
  sessions_.emplace(s->id(), s);
  note_held();
  co_await publish(*s);
  session_header sid{{{"Mcp-Session-Id", s->id()}}};

  if (lease.initialized) {
    bool accepted = false;
    std::string answer = warm_answer(*s, body, env, accepted);
    co_await res.send(200, json_type, answer, sid);
    if (!accepted) {
      end_session(s, false);
      co_return;
    }
    count_started(route);
    log_.info("session started", {{"session", s->id()},
                                  {"tenant", s->who().tenant},
                                  {"request_id", res.request_id()},
                                  {"route", route.path},
                                  {"backend", route.backend_name()},
                                  {"pid", lease.pid},
                                  {"warm", "true"},
                                  {"protocol", s->protocol_version()}});
    co_return;
  }

  if (route.stdio != nullptr) {
    route.stdio->ensure_refill();  // a cold start: the answer waits for the process anyway
  }
  relay_outcome outcome =
      co_await send_stdio_request(s, body, env, env.protocol_version.str(), res, true);
  if (outcome != relay_outcome::completed) {
    if (!s->closed()) {
      end_session(s, false);
    }
    co_return;
  }
  if (route.stdio) {
    route.stdio->learn(std::move(warm_request));
  }
  count_started(route);
  log_.info("session started", {{"session", s->id()},
                                {"tenant", s->who().tenant},
                                {"request_id", res.request_id()},
                                {"route", route.path},
                                {"backend", route.backend_name()},
                                {"pid", lease.pid},
                                {"channel", lease.channel->describe()},
                                {"warm", "false"},
                                {"protocol", s->protocol_version()}});
}

// ---------------------------------------------------------------------------------------------
// requests

net::awaitable<streamable_http_endpoint::relay_outcome>
streamable_http_endpoint::send_stdio_request(std::shared_ptr<session> s, std::string_view body,
                                             const jsonrpc::envelope& env,
                                             std::string_view client_version, responder& res,
                                             bool is_initialize) {
  active_request guard(s);
  std::int64_t upstream_id = 0;
  std::string upstream_body = s->map_client_request(body, env, upstream_id, &res.trace());
  session_header sid{{{"Mcp-Session-Id", s->id()}}};
  auto stream = s->open_post_stream();
  net::steady_timer watchdog(ex_);
  s->set_sink(upstream_id, stream, &watchdog, is_initialize);
  sink_guard sink_cleanup(*s, upstream_id);
  if (!s->channel()->send(upstream_body)) {
    std::string why = s->channel()->exit_reason().empty()
                          ? stdio_failure(*s, "is not accepting input")
                          : stdio_failure(*s, s->channel()->exit_reason());
    std::string answer = s->failure_response(upstream_id, jsonrpc::backend_unavailable, why);
    s->forget_request(upstream_id);
    stream->finish();
    co_await res.send(200, json_type, answer, sid);
    co_return relay_outcome::failed;
  }
  const duration timeout = s->route().channel_timeout();
  const auto hard_deadline = std::chrono::steady_clock::now() + config_.limits.max_call_duration;
  std::string timeout_message = stdio_failure(*s, deadline_words(*s));
  // Waits while the request is in flight; false when the process stayed silent on it for the
  // whole deadline (progress notifications restart it) or the call reached
  // limits.max_call_duration.
  auto wait_progress = [&](auto done) -> net::awaitable<bool> {
    while (!done()) {
      watchdog.expires_at(std::min(std::chrono::steady_clock::now() + timeout, hard_deadline));
      auto [ec] = co_await watchdog.async_wait(tuple_awaitable);
      if (!ec && !done()) {
        co_return false;
      }
    }
    co_return true;
  };
  auto give_up = [&] {
    // The process is told, so it can stop working on it; a late answer is dropped.
    s->channel()->send(cancel_notification(upstream_id, "the gateway's deadline passed"));
    log_.warn("stdio request timed out",
              {{"session", s->id()}, {"backend", s->backend_name()}, {"method", env.method.str()}});
  };

  // Until the first message about this request: the answer alone means a JSON response.
  bool in_time =
      co_await wait_progress([&] { return stream->last_seq() > 0 || stream->finished(); });
  if (!in_time) {
    give_up();
    stream->finish();
    std::string answer =
        s->failure_response(upstream_id, jsonrpc::backend_timeout, timeout_message);
    s->forget_request(upstream_id);
    co_await res.send(200, json_type, answer, sid);
    co_return relay_outcome::failed;
  }
  if (stream->finished() && stream->last_seq() <= 1) {
    const event_stream::entry* answer = stream->next_after(0);
    bool cancelled = s->request_cancelled(upstream_id);
    if (answer == nullptr) {
      std::string why = cancelled                 ? "request cancelled by the client"
                        : s->end_reason().empty() ? "session ended before the backend answered"
                                                  : s->end_reason();
      std::string error = s->failure_response(
          upstream_id, cancelled ? transport_error : jsonrpc::backend_unavailable, why);
      s->forget_request(upstream_id);
      co_await res.send(200, json_type, error, sid);
      co_return relay_outcome::failed;
    }
    s->forget_request(upstream_id);
    stream->mark_delivered(answer->seq);
    jsonrpc::envelope env_answer = decoder_.decode(answer->data);
    bool is_error = env_answer.kind == jsonrpc::message_kind::error;
    co_await res.send(200, json_type, answer->data, sid);
    co_return is_error ? relay_outcome::error_response : relay_outcome::completed;
  }

  // More than the answer: an SSE stream, written while the process goes on.
  std::uint64_t owner = stream->attach();
  bool pump_done = true;
  net::steady_timer pump_signal(ex_, net::steady_timer::time_point::max());
  co_await start_post_stream(stream, res, sid, client_version, owner, pump_done, pump_signal);
  if (pump_done) {
    stream->detach(owner);  // what follows waits for a GET with Last-Event-ID
  }
  in_time = co_await wait_progress([&] { return stream->finished(); });
  if (!in_time) {
    give_up();
    stream->push(s->failure_response(upstream_id, jsonrpc::backend_timeout, timeout_message));
    stream->finish();
  }
  bool answered = s->answered(upstream_id);
  if (!answered && in_time && !s->request_cancelled(upstream_id)) {
    // The session closed under the request (DELETE, shutdown): say so on the stream.
    stream->push(s->failure_response(
        upstream_id, jsonrpc::backend_unavailable,
        s->end_reason().empty() ? "session ended before the backend answered" : s->end_reason()));
  }
  s->forget_request(upstream_id);
  while (!pump_done) {
    co_await pump_signal.async_wait(tuple_awaitable);
  }
  stream->detach(owner);
  if (!res.failed()) {
    co_await res.end_stream();
  }
  co_return in_time&& answered ? relay_outcome::completed : relay_outcome::failed;
}

net::awaitable<void> streamable_http_endpoint::forward_message_stdio(std::shared_ptr<session> s,
                                                                     std::string mapped,
                                                                     const jsonrpc::envelope& env,
                                                                     responder& res,
                                                                     std::int64_t cancels) {
  active_request guard(s);
  bool initialized = env.kind == jsonrpc::message_kind::notification &&
                     env.method.str() == "notifications/initialized";
  if (initialized && s->absorb_initialized()) {
    // The pool already sent it to this warm process.
    s->set_absorb_initialized(false);
    s->set_ready();
    co_await res.send_empty(202);
    co_return;
  }
  if (!s->channel()->send(mapped)) {
    co_await send_error(res, 502, jsonrpc::backend_unavailable,
                        s->channel()->exit_reason().empty()
                            ? stdio_failure(*s, "is not accepting input")
                            : stdio_failure(*s, s->channel()->exit_reason()));
    co_return;
  }
  if (cancels >= 0) {
    // The process stops working on it and sends no answer: its relay ends now.
    s->abort_request(cancels);
    if (session::sink_view sink = s->sink_of(cancels); sink.stream) {
      end_sink(*s, *sink.stream);
    }
    s->poke(cancels);
  }
  if (initialized) {
    s->set_ready();
  }
  co_await res.send_empty(202);
}

net::awaitable<void> streamable_http_endpoint::forward_batch_stdio(
    std::shared_ptr<session> s, const principal& who, std::string_view body,
    const jsonrpc::decoded_body& decoded, responder& res) {
  active_request guard(s);
  std::string responses;
  auto collect = [&](std::string message) {
    responses += responses.empty() ? "[" : ",";
    responses += message;
  };
  const duration timeout = s->route().channel_timeout();
  for (const auto& element : decoded.elements) {
    std::string text(element.in(body));
    jsonrpc::envelope env = decoder_.decode(text);
    std::string_view id = env.id.in(text);
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
    if (env.kind != jsonrpc::message_kind::request) {
      std::int64_t cancels = -1;
      std::optional<std::string> mapped = env.kind == jsonrpc::message_kind::notification
                                              ? s->map_client_notification(text, env, cancels)
                                              : s->map_client_response(text, env);
      bool absorbed = env.kind == jsonrpc::message_kind::notification &&
                      env.method.str() == "notifications/initialized" && s->absorb_initialized();
      if (absorbed) {
        s->set_absorb_initialized(false);
      } else if (mapped) {
        s->channel()->send(*mapped);
      }
      if (cancels >= 0) {
        s->abort_request(cancels);
      }
      continue;
    }
    std::int64_t upstream_id = 0;
    std::string upstream_body = s->map_client_request(text, env, upstream_id, &res.trace());
    auto stream = s->open_post_stream();
    net::steady_timer watchdog(ex_);
    s->set_sink(upstream_id, stream, &watchdog, false);
    sink_guard sink_cleanup(*s, upstream_id);
    std::string answer;
    const auto hard_deadline = std::chrono::steady_clock::now() + config_.limits.max_call_duration;
    if (s->channel()->send(upstream_body)) {
      while (!stream->finished()) {
        watchdog.expires_at(std::min(std::chrono::steady_clock::now() + timeout, hard_deadline));
        auto [ec] = co_await watchdog.async_wait(tuple_awaitable);
        if (!ec && !stream->finished()) {
          s->channel()->send(cancel_notification(upstream_id, "the gateway's deadline passed"));
          answer = s->failure_response(upstream_id, jsonrpc::backend_timeout,
                                       stdio_failure(*s, deadline_words(*s)));
          stream->finish();
        }
      }
      // The answer is the stream's last event; the others go where the client can read them.
      for (std::uint64_t seq = 0; const event_stream::entry* e = stream->next_after(seq);
           seq = e->seq) {
        if (answer.empty() && e->seq == stream->last_seq() && s->answered(upstream_id)) {
          answer = e->data;
        } else if (s->get_stream().attached()) {
          s->get_stream().push(e->data);
        } else {
          log_.warn("message during a batch dropped: no GET stream attached",
                    {{"session", s->id()}, {"backend", s->backend_name()}});
        }
      }
    }
    if (answer.empty()) {
      answer = s->failure_response(
          upstream_id, jsonrpc::backend_unavailable,
          s->end_reason().empty() ? stdio_failure(*s, "is not accepting input") : s->end_reason());
    }
    s->forget_request(upstream_id);
    collect(std::move(answer));
  }
  co_await send_batch_answer(*s, res, responses);
}

}  // namespace mcpgw
