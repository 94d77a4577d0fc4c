#include "aggregate/upstream.h"

#include "backend/sse_backend.h"
#include "mcpgw/http_headers.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpgw::aggregate {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr std::string_view initialized_notification =
    R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
constexpr auto get_retry = std::chrono::seconds(1);

bool is_answer(const jsonrpc::envelope& env) {
  return env.kind == jsonrpc::message_kind::result || env.kind == jsonrpc::message_kind::error;
}

}  // namespace

duration member_binding::timeout() const {
  return stdio != nullptr ? stdio->config().stdio.timeout : http->replica(0).config().http.timeout;
}

// What a stdio process or legacy SSE stream says, handed to its upstream.
class upstream::channel_link final : public channel_listener {
 public:
  explicit channel_link(std::weak_ptr<upstream> up) : up_(std::move(up)) {}
  net::awaitable<void> on_message(std::string message) override {
    if (auto up = up_.lock()) {
      co_await up->on_channel_message(std::move(message));
    }
  }
  void on_oversize(std::string_view id, std::size_t size) override {
    if (auto up = up_.lock()) {
      up->log_.warn("backend message over limits.max_backend_message dropped",
                    {{"backend", up->member_.name()}, {"id", id}, {"bytes", std::to_string(size)}});
    }
  }
  void on_exit(const std::string& why) override {
    if (auto up = up_.lock()) {
      up->on_channel_exit(why);
    }
  }

 private:
  std::weak_ptr<upstream> up_;
};

upstream::upstream(net::any_io_executor ex, const member_binding& member, std::size_t index,
                   std::weak_ptr<upstream_owner> owner, std::string tenant,
                   const limits_config& limits, logger& log, jsonrpc::decoder& decoder,
                   json_view& json)
    : ex_(ex),
      member_(member),
      index_(index),
      owner_(std::move(owner)),
      tenant_(std::move(tenant)),
      limits_(limits),
      log_(log),
      decoder_(decoder),
      json_(json),
      connected_(ex, net::steady_timer::time_point::max()) {}

upstream::~upstream() {
  if (channel_) {
    channel_->stop();
  }
  if (replicas_) {
    replicas_->remove_session(replica_);
  }
}

http_backend& upstream::http() const { return member_.http->replica(replica_); }

backend_request upstream::session_request(std::string_view body) const {
  backend_request request;
  request.body = body;
  request.session_id = session_id_;
  request.protocol_version = info_.protocol_version;
  request.tenant = tenant_;
  return request;
}

std::string upstream::describe_failure(backend_failure f) const {
  switch (f) {
    case backend_failure::timeout:
      return "did not answer in time";
    case backend_failure::protocol:
      return "answered something that is not MCP over HTTP";
    case backend_failure::unavailable:
    case backend_failure::none:
      break;
  }
  return "could not be reached";
}

void upstream::reopen_failed() {
  // The link was ready until the backend expired its session; it is lost now (the owner
  // rejoins it later and tells the client).
  if (!closed_) {
    if (auto owner = owner_.lock()) {
      owner->lost(index_, last_error_);
    }
  }
}

void upstream::abort_all() {
  ++generation_;  // loops of the session being ended stop
  connected_.cancel();
  for (auto& [id, exchange] : exchanges_) {
    exchange->cancel();
  }
  if (get_exchange_ != nullptr) {
    get_exchange_->cancel();
  }
  for (auto& [id, w] : waiting_) {
    w->done = true;
    w->signal->cancel();
  }
  if (channel_) {
    channel_->stop();
    channel_.reset();
  }
}

void upstream::fail(const std::string& why) {
  last_error_ = why;
  const bool was_ready = state_ == link_state::ready;
  state_ = link_state::down;
  abort_all();
  session_id_.clear();
  if (was_ready) {
    if (auto owner = owner_.lock()) {
      owner->lost(index_, why);
    }
  }
}

net::awaitable<bool> upstream::connect(std::string init) {
  auto self = shared_from_this();
  while (state_ == link_state::connecting) {
    co_await connected_.async_wait(tuple_awaitable);
  }
  if (state_ == link_state::ready || closed_) {
    co_return state_ == link_state::ready;
  }
  if (!init.empty()) {
    init_ = std::move(init);
  }
  // After a failure, an HTTP backend's session may go to another replica.
  repick_ = state_ == link_state::down;
  state_ = link_state::connecting;
  ++generation_;
  if (get_exchange_ != nullptr) {
    get_exchange_->cancel();  // the old session's stream
    get_exchange_ = nullptr;
  }
  // Whatever happens in between (even an exception), nobody is left waiting on `connecting`.
  struct settle {
    upstream& up;
    ~settle() {
      if (up.state_ == link_state::connecting) {
        up.state_ = link_state::down;
      }
      up.connected_.cancel();
    }
  } settled{*this};
  bool ok =
      member_.stdio != nullptr || member_.sse ? co_await open_channel() : co_await open_http();
  if (closed_) {
    // The session ended while this one opened: what it opened is let go here.
    ok = false;
    if (channel_) {
      channel_->stop();
      channel_.reset();
    }
    if (!session_id_.empty()) {
      net::co_spawn(
          ex_,
          [self, id = std::exchange(session_id_, {}), version = info_.protocol_version]() mutable {
            return self->delete_session(std::move(id), std::move(version));
          },
          net::detached);
    }
  }
  if (ok) {
    state_ = link_state::ready;
    last_error_.clear();
    offers_ = read_capabilities(info_.capabilities);
  } else if (state_ == link_state::connecting) {
    state_ = link_state::down;
    if (channel_) {
      channel_->stop();
      channel_.reset();
    }
  }
  if (ok && member_.http != nullptr && !member_.sse) {
    net::co_spawn(
        ex_, [self]() { return self->get_stream(); }, net::detached);
  }
  co_return ok;
}

net::awaitable<bool> upstream::open_http() {
  if (replicas_ && repick_ && replicas_->size() > 1) {
    replicas_->remove_session(replica_);
    replicas_.reset();
  }
  if (!replicas_) {
    // Shared: the count is given back even if this outlives the backend at shutdown.
    replicas_ = member_.http->shared_replicas();
    replica_ = replicas_->pick(tenant_);
    replicas_->add_session(replica_);
  }
  backend_request request;
  request.body = init_;
  request.tenant = tenant_;
  request.mcp_method = "initialize";
  auto [failure, exchange] = co_await http().send(request);
  if (failure != backend_failure::none) {
    last_error_ = describe_failure(failure);
    co_return false;
  }
  if (exchange->status() != 200) {
    last_error_ = "answered its initialize with HTTP " + std::to_string(exchange->status());
    co_return false;
  }
  session_id_.assign(exchange->header("Mcp-Session-Id"));
  call_result answer = co_await read_answer(*exchange, "\"mcpgw-init\"");
  if (!answer.ok()) {
    last_error_ = answer.error;
    co_return false;
  }
  std::optional<server_info> info = json_.initialize_result(answer.response);
  if (!info) {
    jsonrpc::envelope env = decoder_.decode(answer.response);
    last_error_ = env.kind == jsonrpc::message_kind::error
                      ? "refused initialize: " + std::string(env.error_message.str())
                      : "answered initialize with something that is not an initialize result";
    co_return false;
  }
  info_ = std::move(*info);
  auto [note_failure, note_exchange] =
      co_await http().send(session_request(initialized_notification));
  if (note_failure != backend_failure::none) {
    last_error_ = describe_failure(note_failure) + " (notifications/initialized)";
    co_return false;
  }
  co_return true;
}

net::awaitable<bool> upstream::open_channel() {
  auto link = std::make_shared<channel_link>(weak_from_this());
  bool warm = false;
  if (member_.stdio != nullptr) {
    jsonrpc::envelope env = decoder_.decode(init_);
    std::string warm_request = jsonrpc::splice(init_, env.id, stdio_backend::warmup_id);
    stdio_backend::lease lease = co_await member_.stdio->acquire(warm_request, tenant_);
    if (!lease.process || lease.process->ended()) {
      last_error_ =
          lease.process ? "process exited at start (" + lease.process->status() + ")" : lease.error;
      co_return false;
    }
    warm = lease.initialized;
    channel_ = std::move(lease.process);
    if (!warm) {
      member_.stdio->learn(std::move(warm_request));
    }
  } else {
    auto channel = std::make_shared<sse_channel>(member_.http->replica(0), log_, tenant_);
    std::string why;
    if (!co_await channel->open(why)) {
      last_error_ = why;
      co_return false;
    }
    channel_ = std::move(channel);
  }
  channel_->attach(link, "aggregate");
  std::string answer;
  if (warm) {
    answer = channel_->init_response();
  } else {
    call_result r = co_await call_channel(init_, "\"mcpgw-init\"");
    if (!r.ok()) {
      last_error_ = r.error;
      co_return false;
    }
    answer = std::move(r.response);
  }
  std::optional<server_info> info = json_.initialize_result(answer);
  if (!info) {
    last_error_ = "answered initialize with something that is not an initialize result";
    co_return false;
  }
  info_ = std::move(*info);
  if (!warm && (!channel_ || !channel_->send(initialized_notification))) {
    last_error_ = "stopped taking input after initialize";
    co_return false;
  }
  co_return true;
}

net::awaitable<call_result> upstream::call(std::string body, std::string id,
                                           std::string_view method) {
  auto self = shared_from_this();
  if (state_ != link_state::ready) {
    co_return call_result{{},
                          jsonrpc::backend_unavailable,
                          "backend '" + member_.name() + "' is unavailable" +
                              (last_error_.empty() ? "" : " (" + last_error_ + ")")};
  }
  if (channel_) {
    call_result r = co_await call_channel(body, id);
    if (!r.ok() && r.error.empty()) {
      r.code = jsonrpc::backend_unavailable;
      r.error = "backend '" + member_.name() + "' " + last_error_;
    }
    co_return r;
  }
  co_return co_await call_http(body, id, method);
}

net::awaitable<call_result> upstream::call_http(std::string_view body, std::string_view id,
                                                std::string_view method) {
  for (int attempt = 0;; ++attempt) {
    const std::uint64_t generation = generation_;
    backend_request request = session_request(body);
    request.mcp_method = method;
    auto [failure, exchange] = co_await http().send(request);
    if (failure != backend_failure::none) {
      std::string why = describe_failure(failure);
      if (failure == backend_failure::unavailable && generation == generation_ && !closed_) {
        fail(why);
      }
      co_return call_result{{},
                            failure == backend_failure::timeout ? jsonrpc::backend_timeout
                                                                : jsonrpc::backend_unavailable,
                            "backend '" + member_.name() + "' " + why};
    }
    if (exchange->status() == 404 && attempt == 0 && !closed_) {
      // The backend expired its session: a new one, and the request again.
      exchange.reset();
      if (generation == generation_ && state_ == link_state::ready) {
        log_.info("aggregated backend session expired; opening a new one",
                  {{"backend", member_.name()}});
        state_ = link_state::idle;
        if (!co_await connect({})) {
          reopen_failed();
          co_return call_result{
              {},
              jsonrpc::backend_unavailable,
              "backend '" + member_.name() + "' expired its session and " + last_error_};
        }
        if (auto owner = owner_.lock()) {
          owner->reopened(index_);
        }
      } else if (state_ == link_state::connecting) {
        co_await connect({});  // another request is opening the new session: wait for it
      }
      if (state_ != link_state::ready) {
        co_return call_result{{},
                              jsonrpc::backend_unavailable,
                              "backend '" + member_.name() + "' is unavailable" +
                                  (last_error_.empty() ? "" : " (" + last_error_ + ")")};
      }
      continue;
    }
    if (exchange->status() != 200) {
      co_return call_result{
          {},
          jsonrpc::backend_unavailable,
          "backend '" + member_.name() + "' answered HTTP " + std::to_string(exchange->status())};
    }
    std::string key(id);
    exchanges_[key] = exchange.get();
    call_result r = co_await read_answer(*exchange, id);
    exchanges_.erase(key);
    if (!r.ok() && r.error.empty()) {
      r.code = jsonrpc::backend_unavailable;
      r.error = "backend '" + member_.name() + "' ended its answer early";
    }
    co_return r;
  }
}

net::awaitable<call_result> upstream::read_answer(backend_exchange& exchange, std::string_view id) {
  call_result out;
  if (exchange.is_json()) {
    std::string body;
    backend_failure f = co_await exchange.read_body(body);
    if (f != backend_failure::none) {
      out.code =
          f == backend_failure::timeout ? jsonrpc::backend_timeout : jsonrpc::backend_unavailable;
      out.error = "backend '" + member_.name() + "' " + describe_failure(f);
      co_return out;
    }
    out.response = std::move(body);
    co_return out;
  }
  if (!exchange.is_sse()) {
    out.code = jsonrpc::backend_protocol_error;
    out.error = "backend '" + member_.name() + "' answered with neither JSON nor an event stream";
    co_return out;
  }
  auto self = shared_from_this();
  sse::event event;
  while (true) {
    event_status status = co_await exchange.next_event(event);
    if (status != event_status::event) {
      if (status == event_status::failed) {
        backend_failure f = exchange.failure();
        out.code =
            f == backend_failure::timeout ? jsonrpc::backend_timeout : jsonrpc::backend_unavailable;
        out.error = "backend '" + member_.name() + "' " + describe_failure(f);
      }
      co_return out;
    }
    if (event.data.empty()) {
      continue;  // a priming event
    }
    jsonrpc::envelope env = decoder_.decode(event.data);
    if (is_answer(env) && env.id.in(event.data) == id) {
      out.response = std::move(event.data);
      co_return out;
    }
    if (auto owner = owner_.lock()) {
      co_await owner->from_backend(index_, std::move(event.data));
    }
  }
}

net::awaitable<call_result> upstream::call_channel(std::string_view body, std::string_view id) {
  auto self = shared_from_this();
  call_result out;
  net::steady_timer signal(ex_);
  waiter w;
  w.signal = &signal;
  std::string key(id);
  if (!channel_ || waiting_.contains(key)) {
    out.code = jsonrpc::backend_unavailable;
    out.error = "backend '" + member_.name() + "' is unavailable";
    co_return out;
  }
  waiting_[key] = &w;
  if (!channel_->send(body)) {
    waiting_.erase(key);
    out.code = jsonrpc::backend_unavailable;
    out.error = "backend '" + member_.name() + "' is not accepting input";
    co_return out;
  }
  const auto hard = std::chrono::steady_clock::now() + limits_.max_call_duration;
  while (!w.done) {
    signal.expires_at(std::min(std::chrono::steady_clock::now() + member_.timeout(), hard));
    auto [ec] = co_await signal.async_wait(tuple_awaitable);
    if (!ec && !w.done) {
      waiting_.erase(key);
      if (channel_) {
        channel_->send(
            R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" + key +
            R"(,"reason":"the gateway's deadline passed"}})");
      }
      out.code = jsonrpc::backend_timeout;
      out.error = "backend '" + member_.name() + "' did not answer within its deadline";
      co_return out;
    }
  }
  waiting_.erase(key);
  out.response = std::move(w.response);
  if (out.response.empty()) {
    out.code = jsonrpc::backend_unavailable;
    out.error = "backend '" + member_.name() + "' " +
                (last_error_.empty() ? std::string("ended before answering") : last_error_);
  }
  co_return out;
}

net::awaitable<void> upstream::on_channel_message(std::string message) {
  jsonrpc::envelope env = decoder_.decode(message);
  if (is_answer(env)) {
    auto it = waiting_.find(env.id.in(message));
    if (it != waiting_.end()) {
      it->second->response = std::move(message);
      it->second->done = true;
      it->second->signal->cancel();
    }
    co_return;  // else: an answer nobody waits for any more
  }
  if (env.kind == jsonrpc::message_kind::notification && env.progress_token.present()) {
    auto it = waiting_.find(env.progress_token.in(message));
    if (it != waiting_.end()) {
      it->second->signal->cancel();  // progress restarts the request's silence deadline
    }
  }
  if (auto owner = owner_.lock()) {
    co_await owner->from_backend(index_, std::move(message));
  }
}

void upstream::on_channel_exit(const std::string& why) {
  if (!closed_ && state_ != link_state::down) {
    std::string what = member_.stdio != nullptr ? "process ended: " + why : why;
    fail(what);
  }
}

void upstream::post(std::string body) {
  if (state_ != link_state::ready) {
    return;
  }
  if (channel_) {
    channel_->send(body);
    return;
  }
  auto self = shared_from_this();
  net::co_spawn(
      ex_, [self, body = std::move(body)]() mutable { return self->post_http(std::move(body)); },
      net::detached);
}

net::awaitable<void> upstream::post_http(std::string body) {
  auto self = shared_from_this();
  auto [failure, exchange] = co_await http().send(session_request(body));
  if (failure != backend_failure::none) {
    log_.debug("message to aggregated backend not delivered",
               {{"backend", member_.name()}, {"error", describe_failure(failure)}});
  }
}

void upstream::cancel(std::string_view id, std::string_view reason) {
  bool in_flight = false;
  if (auto it = exchanges_.find(id); it != exchanges_.end()) {
    it->second->cancel();
    in_flight = true;
  }
  if (auto it = waiting_.find(id); it != waiting_.end()) {
    it->second->done = true;  // its caller stops waiting; a late answer is dropped
    it->second->signal->cancel();
    in_flight = true;
  }
  if (in_flight) {
    post(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
         std::string(id) + R"(,"reason":)" + jsonrpc::quote(reason) + "}}");
  }
}

net::awaitable<void> upstream::get_stream() {
  auto self = shared_from_this();
  const std::uint64_t generation = generation_;
  net::steady_timer pause(ex_);
  while (!closed_ && state_ == link_state::ready && generation == generation_) {
    backend_request request = session_request({});
    request.method = http::verb::get;
    request.stream = true;
    auto [failure, exchange] = co_await http().send(request);
    if (closed_ || generation != generation_) {
      co_return;
    }
    if (failure == backend_failure::unavailable) {
      fail(describe_failure(failure));
      co_return;
    }
    if (exchange && exchange->status() >= 400 && exchange->status() < 500 &&
        exchange->status() != 404 && exchange->status() != 429) {
      co_return;  // 405 and the like: the backend offers no stream of its own
    }
    if (exchange && exchange->status() == 404) {
      state_ = link_state::idle;
      if (co_await connect({})) {  // starts a new stream loop
        if (auto owner = owner_.lock()) {
          owner->reopened(index_);
        }
      } else {
        reopen_failed();
      }
      co_return;
    }
    if (exchange && exchange->status() == 200 && exchange->is_sse()) {
      if (get_exchange_ != nullptr) {
        get_exchange_->cancel();  // never two streams for one session
      }
      get_exchange_ = exchange.get();
      sse::event event;
      while (co_await exchange->next_event(event) == event_status::event) {
        if (event.data.empty()) {
          continue;
        }
        if (auto owner = owner_.lock()) {
          co_await owner->from_backend(index_, std::move(event.data));
        }
        if (closed_ || generation != generation_) {
          break;
        }
      }
      if (get_exchange_ == exchange.get()) {
        get_exchange_ = nullptr;
      }
    }
    if (closed_ || generation != generation_) {
      co_return;
    }
    pause.expires_after(get_retry);
    co_await pause.async_wait(tuple_awaitable);
  }
}

void upstream::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  const bool was_ready = state_ == link_state::ready;
  abort_all();
  if (!session_id_.empty() && was_ready) {
    auto self = shared_from_this();
    net::co_spawn(
        ex_,
        [self, id = session_id_, version = info_.protocol_version]() mutable {
          return self->delete_session(std::move(id), std::move(version));
        },
        net::detached);
  }
  state_ = link_state::down;
}

net::awaitable<void> upstream::delete_session(std::string session_id, std::string version) {
  auto self = shared_from_this();
  backend_request request;
  request.method = http::verb::delete_;
  request.session_id = session_id;
  request.protocol_version = version;
  request.tenant = tenant_;
  co_await http().send(request);
}

}  // namespace mcpgw::aggregate
