#include "mcp/session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>

namespace mcpgw {

namespace {

bool parse_int(std::string_view text, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// event_stream

std::uint64_t event_stream::push(std::string data) {
  std::uint64_t seq = next_seq_++;
  events_.push_back(entry{seq, std::move(data)});
  trim();
  notify();
  return seq;
}

void event_stream::trim() {
  while (events_.size() > capacity_) {
    if (events_.front().seq > delivered_) {
      if (is_get_ || attached_) {
        return;  // the producer waits in wait_for_room(); nothing undelivered is dropped
      }
      ++dropped_;  // a POST stream nobody reads any more: oldest first
    }
    events_.pop_front();
  }
}

net::awaitable<bool> event_stream::wait_for_room() {
  while (!finished_ && (is_get_ || attached_) && events_.size() >= capacity_ &&
         events_.front().seq > delivered_) {
    room_.expires_at(net::steady_timer::time_point::max());
    co_await room_.async_wait(net::as_tuple(net::use_awaitable));
  }
  co_return !finished_;
}

void event_stream::finish() {
  finished_ = true;
  notify();
  room_.cancel();
}

const event_stream::entry* event_stream::next_after(std::uint64_t seq) const {
  if (events_.empty() || events_.back().seq <= seq) {
    return nullptr;
  }
  // Sequence numbers are dense within the retained window.
  std::uint64_t first = events_.front().seq;
  std::size_t index = seq < first ? 0 : static_cast<std::size_t>(seq - first + 1);
  return index < events_.size() ? &events_[index] : nullptr;
}

net::awaitable<bool> event_stream::wait_change(duration timeout) {
  change_.expires_after(timeout);
  auto [ec] = co_await change_.async_wait(net::as_tuple(net::use_awaitable));
  co_return ec == net::error::operation_aborted;
}

bool parse_event_id(std::string_view id, std::uint64_t& stream, std::uint64_t& seq) {
  std::size_t sep = id.find('_');
  if (sep == std::string_view::npos) {
    return false;
  }
  auto a = std::from_chars(id.data(), id.data() + sep, stream);
  auto b = std::from_chars(id.data() + sep + 1, id.data() + id.size(), seq);
  return a.ec == std::errc() && a.ptr == id.data() + sep && b.ec == std::errc() &&
         b.ptr == id.data() + id.size();
}

// ---------------------------------------------------------------------------------------------
// session

session::session(net::any_io_executor ex, std::string id, const route_binding& route,
                 const limits_config& limits)
    : ex_(std::move(ex)), id_(std::move(id)), route_(route), limits_(limits) {
  get_stream_ = std::make_shared<event_stream>(ex_, 0, limits_.stream_buffer_events, true);
}

session::~session() {
  close();
  if (replicas_) {
    replicas_->remove_session(replica_index_);
  }
}

void session::pin_replica(std::size_t index) {
  if (replicas_) {
    replicas_->remove_session(replica_index_);
  }
  replicas_ = route_.group->shared_replicas();
  replica_index_ = index;
  replica_ = &route_.group->replica(index);
  replicas_->add_session(index);
}

bool session::busy() const { return active_requests_ > 0 || get_stream_->attached(); }

std::string session::map_client_request(std::string_view body, const jsonrpc::envelope& env,
                                        std::int64_t& upstream_id, const trace::carried* carried) {
  upstream_id = next_upstream_id_++;
  std::string up = std::to_string(upstream_id);
  in_flight entry;
  entry.client_id = env.id.in(body);
  entry.progress_token = env.progress_token.in(body);
  auto staged = std::find_if(staged_.begin(), staged_.end(),
                             [&](const auto& e) { return e.first == entry.client_id; });
  if (staged != staged_.end()) {
    entry.method = env.method.str();
    entry.name = jsonrpc::subject_of(env);
    entry.done = std::move(staged->second);
    staged_.erase(staged);
  } else if (chain_) {
    // A request no hook saw (the gateway's own): its completion is still reported.
    entry.method = env.method.str();
    entry.name = jsonrpc::subject_of(env);
    entry.done = completion_guard(chain_);
    request_record& record = entry.done.fill();
    record.who = who_;
    record.route = route_.path;
    record.backend = route_.backend_name();
    record.session_id = id_;
    record.method = entry.method;
    record.name = entry.name;
    record.client_id = entry.client_id;
    record.started = std::chrono::system_clock::now();
    record.started_steady = std::chrono::steady_clock::now();
  }
  // The progress token becomes the upstream id too: unique in the upstream session.
  edit_list edits{{env.id, up}};
  if (env.progress_token.present()) {
    edits.push_back({env.progress_token, up});
  }
  // What the trace edits insert, built in buffers that keep their capacity: the edits point
  // into them until splice() below has copied them.
  thread_local std::array<std::string, 2> inserted;
  if (tracing_ != nullptr) {
    continue_trace(body, env, carried, entry, edits, inserted);
  }
  entry.done.forwarded();
  if (spare_client_ids_.empty()) {
    upstream_by_client_id_[entry.client_id] = upstream_id;
  } else {
    auto node = std::move(spare_client_ids_.back());
    spare_client_ids_.pop_back();
    node.key() = entry.client_id;
    node.mapped() = upstream_id;
    if (auto placed = upstream_by_client_id_.insert(std::move(node)); !placed.inserted) {
      placed.position->second = upstream_id;
    }
  }
  if (spare_in_flight_.empty()) {
    in_flight_.emplace(upstream_id, std::move(entry));
  } else {
    auto node = std::move(spare_in_flight_.back());
    spare_in_flight_.pop_back();
    node.key() = upstream_id;
    node.mapped() = std::move(entry);
    in_flight_.insert(std::move(node));  // upstream ids are never reused: always inserted
  }
  return jsonrpc::splice(body, std::span<jsonrpc::edit>(edits.data(), edits.size()));
}

namespace {

std::string_view unquoted(std::string_view raw) {
  return raw.size() >= 2 ? raw.substr(1, raw.size() - 2) : std::string_view();
}

// True when the object whose '{' ends just before `open` has no members.
bool empty_object(std::string_view body, std::uint32_t open) {
  std::size_t at = body.find_first_not_of(" \t\r\n", open);
  return at != std::string_view::npos && body[at] == '}';
}

}  // namespace

void session::continue_trace(std::string_view body, const jsonrpc::envelope& env,
                             const trace::carried* carried, in_flight& entry, edit_list& edits,
                             std::array<std::string, 2>& text) {
  // The message's own context wins over its HTTP request's: a batch carries one per call.
  std::optional<trace::context> incoming =
      trace::incoming(env.traceparent.in(body), carried ? carried->traceparent : "");
  std::string_view state;
  if (incoming) {
    const bool from_meta =
        env.traceparent.present() && trace::incoming(env.traceparent.in(body), {}).has_value();
    state = from_meta ? (env.tracestate.present() ? unquoted(env.tracestate.in(body)) : "")
                      : carried->tracestate;
  }
  if (!incoming && !tracing_->generate) {
    return;
  }
  trace::context context = incoming ? *incoming : tracing_->ids.new_trace();
  auto span = tracing_->ids.new_span();
  auto header = trace::format(context, span);
  entry.traceparent.assign(std::string_view(header.data(), header.size()));
  if (!state.empty() && trace::valid_tracestate(state)) {
    entry.tracestate.assign(state);
  }
  entry.done.set_trace(context.trace(), incoming ? incoming->span() : std::string_view(),
                       {span.data(), span.size()});
  if (carried != nullptr) {
    entry.done.set_request_id(carried->request_id);
  }
  if (!tracing_->meta) {
    return;
  }
  // A tracestate already in _meta stays as it is; one from the header is added beside ours.
  const bool add_state = !entry.tracestate.empty() && !env.tracestate.present();
  // `"traceparent":"00-…"` and `,"tracestate":"…"` into `out`, which is built in place.
  const auto append_fields = [&](std::string& out, bool with_parent) {
    if (with_parent) {
      out += "\"traceparent\":";
      jsonrpc::append_quoted(out, entry.traceparent);
    }
    if (add_state) {
      out += with_parent ? ",\"tracestate\":" : "\"tracestate\":";
      jsonrpc::append_quoted(out, entry.tracestate);
    }
  };
  if (env.traceparent.present()) {
    text[0].clear();
    jsonrpc::append_quoted(text[0], entry.traceparent);
    edits.push_back({env.traceparent, text[0]});
    if (add_state) {
      text[1].clear();
      append_fields(text[1], false);
      text[1] += ',';  // _meta holds traceparent, so it is not empty
      edits.push_back({jsonrpc::token{env.meta_open, 0}, text[1]});
    }
    return;
  }
  std::string& out = text[1];
  out.clear();
  out.reserve(96 + entry.tracestate.size() * 6);
  if (env.meta_open != 0) {
    append_fields(out, true);
    out += empty_object(body, env.meta_open) ? "" : ",";
    edits.push_back({jsonrpc::token{env.meta_open, 0}, out});
  } else if (env.params_open != 0) {
    out += "\"_meta\":{";
    append_fields(out, true);
    out += empty_object(body, env.params_open) ? "}" : "},";
    edits.push_back({jsonrpc::token{env.params_open, 0}, out});
  } else if (!env.has_params) {
    std::size_t close = body.rfind('}');
    if (close != std::string_view::npos) {
      out += ",\"params\":{\"_meta\":{";
      append_fields(out, true);
      out += "}}";
      edits.push_back({jsonrpc::token{static_cast<std::uint32_t>(close), 0}, out});
    }
  }
  // Positional (array) params have no place for _meta: the headers carry the context alone.
}

session::trace_values session::trace_of(std::int64_t upstream_id) const {
  auto it = in_flight_.find(upstream_id);
  if (it == in_flight_.end() || it->second.traceparent.empty()) {
    return {};
  }
  return {it->second.traceparent, it->second.tracestate};
}

std::optional<std::string> session::map_client_response(std::string_view body,
                                                        const jsonrpc::envelope& env) {
  std::int64_t ours = 0;
  if (!parse_int(env.id.in(body), ours)) {
    return std::nullopt;
  }
  auto it = server_requests_.find(ours);
  if (it == server_requests_.end()) {
    return std::nullopt;
  }
  std::string with_backend_id = jsonrpc::splice(body, env.id, it->second);
  server_request_by_backend_id_.erase(it->second);
  server_requests_.erase(it);
  return with_backend_id;
}

std::optional<std::string> session::map_client_notification(std::string_view body,
                                                            const jsonrpc::envelope& env,
                                                            std::int64_t& cancels) {
  cancels = -1;
  if (env.method.str() == "notifications/cancelled" && env.request_id.present()) {
    auto it = upstream_by_client_id_.find(env.request_id.in(body));
    if (it == upstream_by_client_id_.end()) {
      return std::nullopt;
    }
    cancels = it->second;
    return jsonrpc::splice(body, env.request_id, std::to_string(it->second));
  }
  return std::string(body);
}

void session::attach_exchange(std::int64_t upstream_id, backend_exchange* exchange) {
  auto it = in_flight_.find(upstream_id);
  if (it != in_flight_.end()) {
    it->second.exchange = exchange;
  }
}

void session::abort_request(std::int64_t upstream_id) {
  auto it = in_flight_.find(upstream_id);
  if (it != in_flight_.end()) {
    it->second.cancelled = true;
    it->second.done.set_outcome(request_outcome::cancelled);
    if (it->second.exchange) {
      it->second.exchange->cancel();
    }
  }
}

bool session::request_cancelled(std::int64_t upstream_id) const {
  auto it = in_flight_.find(upstream_id);
  return it != in_flight_.end() && it->second.cancelled;
}

void session::forget_request(std::int64_t upstream_id) {
  auto it = in_flight_.find(upstream_id);
  if (it == in_flight_.end()) {
    return;
  }
  if (auto id = upstream_by_client_id_.find(it->second.client_id);
      id != upstream_by_client_id_.end()) {
    auto node = upstream_by_client_id_.extract(id);
    if (spare_client_ids_.size() < spare_nodes) {
      spare_client_ids_.push_back(std::move(node));
    }
  }
  auto node = in_flight_.extract(it);
  // The request ends here as it did when the entry was erased: its completion fires, its
  // stream and timer references go.
  node.mapped() = in_flight{};
  if (spare_in_flight_.size() < spare_nodes) {
    spare_in_flight_.push_back(std::move(node));
  }
}

std::string session::client_id_of(std::int64_t upstream_id) const {
  auto it = in_flight_.find(upstream_id);
  return it == in_flight_.end() ? std::string("null") : it->second.client_id;
}

std::string session::failure_response(std::int64_t upstream_id, int code,
                                      std::string_view message) {
  auto it = in_flight_.find(upstream_id);
  if (it == in_flight_.end()) {
    return jsonrpc::make_error("null", code, message);
  }
  std::string body = jsonrpc::make_error(it->second.client_id, code, message);
  if (chain_) {
    it->second.done.backend_done();
    it->second.done.set_outcome(request_outcome::error, code, message);
    filter_response(body, jsonrpc::message_kind::error, it->second.method, it->second.name);
    it->second.done.set_answer(body.size(), false);
  }
  return body;
}

void session::answer_locally(std::int64_t upstream_id, std::string& body, bool is_error) {
  auto it = in_flight_.find(upstream_id);
  if (it == in_flight_.end() || !chain_) {
    return;
  }
  it->second.done.set_outcome(is_error ? request_outcome::error : request_outcome::answered);
  filter_response(body, is_error ? jsonrpc::message_kind::error : jsonrpc::message_kind::result,
                  it->second.method, it->second.name);
}

bool session::request_pending(std::string_view client_id) const {
  return upstream_by_client_id_.contains(client_id) ||
         std::any_of(staged_.begin(), staged_.end(),
                     [&](const auto& entry) { return entry.first == client_id; });
}

void session::stage_completion(std::string client_id, completion_guard guard) {
  staged_.emplace_back(std::move(client_id), std::move(guard));
}

void session::unstage_completion(std::string_view client_id, request_outcome outcome, int code,
                                 std::string_view message) {
  auto it = std::find_if(staged_.begin(), staged_.end(),
                         [&](const auto& entry) { return entry.first == client_id; });
  if (it != staged_.end()) {
    completion_guard guard = std::move(it->second);
    staged_.erase(it);
    guard.set_outcome(outcome, code, message);
  }
}

void session::filter_response(std::string& body, jsonrpc::message_kind kind,
                              std::string_view method, std::string_view name) {
  response_context ctx{who_, route_.path, route_.backend_name(), id_, kind, method, name, body};
  chain_->run_response(ctx);
}

session::mapped session::map_backend_message(std::string_view body, jsonrpc::decoder& decoder) {
  mapped out;
  jsonrpc::envelope env = decoder.decode(body);
  switch (env.kind) {
    case jsonrpc::message_kind::result:
    case jsonrpc::message_kind::error: {
      std::int64_t up = 0;
      if (!parse_int(env.id.in(body), up)) {
        return out;
      }
      auto it = in_flight_.find(up);
      if (it == in_flight_.end()) {
        return out;
      }
      out.body = jsonrpc::splice(body, env.id, it->second.client_id);
      out.completes = up;
      out.is_error = env.kind == jsonrpc::message_kind::error;
      out.protocol_version.assign(env.protocol_version.str());
      if (chain_) {
        it->second.done.backend_done();
        if (out.is_error) {
          it->second.done.set_outcome(request_outcome::error, env.error_code,
                                      env.error_message.str());
        } else {
          it->second.done.set_outcome(request_outcome::answered);
        }
        filter_response(out.body, env.kind, it->second.method, it->second.name);
        it->second.done.set_answer(out.body.size(), env.tool_error);
      }
      return out;
    }
    case jsonrpc::message_kind::request: {
      std::int64_t ours = next_client_facing_id_++;
      std::string backend_id(env.id.in(body));
      server_request_by_backend_id_[backend_id] = ours;
      server_requests_.emplace(ours, std::move(backend_id));
      out.body = jsonrpc::splice(body, env.id, std::to_string(ours));
      if (chain_) {
        filter_response(out.body, env.kind, env.method.str(), {});
      }
      return out;
    }
    case jsonrpc::message_kind::notification: {
      out = map_backend_notification(body, env);
      if (chain_ && !out.body.empty()) {
        filter_response(out.body, env.kind, env.method.str(), {});
      }
      return out;
    }
    case jsonrpc::message_kind::invalid:
      return out;
  }
  return out;
}

session::mapped session::map_backend_notification(std::string_view body,
                                                  const jsonrpc::envelope& env) {
  mapped out;
  std::string_view method = env.method.str();
  if (method == "notifications/progress" && env.progress_token.present()) {
    std::int64_t up = 0;
    auto it = parse_int(env.progress_token.in(body), up) ? in_flight_.find(up) : in_flight_.end();
    if (it == in_flight_.end() || it->second.progress_token.empty()) {
      return out;  // progress for a request that is over: nobody to tell
    }
    out.body = jsonrpc::splice(body, env.progress_token, it->second.progress_token);
    out.related = up;
    return out;
  }
  if (method == "notifications/cancelled" && env.request_id.present()) {
    auto it = server_request_by_backend_id_.find(std::string(env.request_id.in(body)));
    if (it == server_request_by_backend_id_.end()) {
      return out;
    }
    out.body = jsonrpc::splice(body, env.request_id, std::to_string(it->second));
    server_requests_.erase(it->second);
    server_request_by_backend_id_.erase(it);
    return out;
  }
  out.body.assign(body);
  return out;
}

std::shared_ptr<event_stream> session::open_post_stream() {
  auto stream =
      std::make_shared<event_stream>(ex_, next_stream_++, limits_.stream_buffer_events, false);
  post_streams_.emplace(stream->number(), stream);
  // Keep a bounded number of finished streams for Last-Event-ID replay, oldest out first;
  // streams still running stay, however old.
  constexpr std::size_t kept_finished = 32;
  std::size_t finished = 0;
  for (auto it = post_streams_.rbegin(); it != post_streams_.rend(); ++it) {
    finished += it->second->finished() ? 1 : 0;
  }
  for (auto it = post_streams_.begin(); it != post_streams_.end() && finished > kept_finished;) {
    if (it->second->finished()) {
      it = post_streams_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
  return stream;
}

std::shared_ptr<event_stream> session::find_stream(std::uint64_t number) const {
  if (number == 0) {
    return get_stream_;
  }
  auto it = post_streams_.find(number);
  return it == post_streams_.end() ? nullptr : it->second;
}

void session::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  get_stream_->finish();
  for (auto& [number, stream] : post_streams_) {
    stream->finish();
  }
  if (tracked_) {
    tracked_->cancel();
    tracked_ = nullptr;
  }
  // Requests in flight end too: their relays see the failure and finish their streams.
  for (auto& [id, request] : in_flight_) {
    if (request.exchange) {
      request.exchange->cancel();
      request.exchange = nullptr;
    }
    if (request.sink) {
      request.sink->finish();
    }
    if (request.watchdog) {
      request.watchdog->cancel();
    }
  }
  if (channel_) {
    channel_->stop();
  }
}

void session::set_sink(std::int64_t upstream_id, std::shared_ptr<event_stream> sink,
                       net::steady_timer* watchdog, bool is_initialize) {
  auto it = in_flight_.find(upstream_id);
  if (it != in_flight_.end()) {
    it->second.sink = std::move(sink);
    it->second.watchdog = watchdog;
    it->second.is_initialize = is_initialize;
  }
}

void session::clear_sink(std::int64_t upstream_id) {
  auto it = in_flight_.find(upstream_id);
  if (it != in_flight_.end()) {
    it->second.sink.reset();
    it->second.watchdog = nullptr;
  }
}

session::sink_view session::sink_of(std::int64_t upstream_id) {
  auto it = in_flight_.find(upstream_id);
  if (it == in_flight_.end() || !it->second.sink) {
    return {};
  }
  return {it->second.sink, it->second.is_initialize};
}

void session::poke(std::int64_t upstream_id) {
  auto it = in_flight_.find(upstream_id);
  if (it != in_flight_.end() && it->second.watchdog) {
    it->second.watchdog->cancel();
  }
}

std::shared_ptr<event_stream> session::newest_open_sink(std::int64_t& newest) const {
  newest = -1;
  std::shared_ptr<event_stream> out;
  for (const auto& [id, request] : in_flight_) {
    if (request.sink && !request.sink->finished() && !request.answered && id > newest) {
      newest = id;
      out = request.sink;
    }
  }
  return out;
}

std::vector<std::int64_t> session::unanswered() const {
  std::vector<std::int64_t> out;
  for (const auto& [id, request] : in_flight_) {
    if (request.sink && !request.answered) {
      out.push_back(id);
    }
  }
  return out;
}

bool session::answered(std::int64_t upstream_id) const {
  auto it = in_flight_.find(upstream_id);
  return it != in_flight_.end() && it->second.answered;
}

void session::mark_answered(std::int64_t upstream_id) {
  auto it = in_flight_.find(upstream_id);
  if (it != in_flight_.end()) {
    it->second.answered = true;
  }
}

}  // namespace mcpgw
