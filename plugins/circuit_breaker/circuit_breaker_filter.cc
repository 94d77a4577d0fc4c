#include "circuit_breaker/circuit_breaker_filter.h"

#include "mcpgw/jsonrpc.h"

#include <cstdio>

namespace mcpgw::plugins::circuit_breaker {
namespace {

std::string call_key(std::string_view session, std::string_view id) {
  std::string key(session);
  key += '\n';
  key += id;
  return key;
}

// Failures of the backend itself: unreachable, timed out, answered something unusable.
bool backend_failed(int code) {
  return code == jsonrpc::backend_unavailable || code == jsonrpc::backend_timeout ||
         code == jsonrpc::backend_protocol_error;
}

}  // namespace

circuit_breaker_filter::circuit_breaker_filter(breaker_config config, logger& log)
    : config_(config), log_(log) {
  now_ = [] { return std::chrono::steady_clock::now(); };
}

breaker& circuit_breaker_filter::breaker_for(std::string_view backend, std::string_view replica) {
  // One breaker per replica: a dead replica opens its own circuit, not its siblings'.
  std::string key(backend);
  if (!replica.empty()) {
    key += ' ';
    key += replica;
  }
  auto it = breakers_.find(key);
  if (it == breakers_.end()) {
    it = breakers_.emplace(std::move(key), breaker(config_.settings)).first;
  }
  return it->second;
}

void circuit_breaker_filter::count_into(metrics& m) {
  m.on_scrape([this, &m] {
    const time_point now = now_();
    for (auto& [key, b] : breakers_) {
      const std::size_t space = key.find(' ');
      const std::string backend = key.substr(0, space);
      const std::string replica = space == std::string::npos ? "" : key.substr(space + 1);
      const breaker_state state = b.state(now);
      // Each worker's breakers count that worker's failures: the worst state is shown.
      m.set_gauge(m.circuit_state.Add({{"backend", backend}, {"replica", replica}}),
                  state == breaker_state::closed      ? 0
                  : state == breaker_state::half_open ? 1
                                                      : 2,
                  metrics::gauge_merge::max);
    }
  });
}

breaker_state circuit_breaker_filter::state_of(std::string_view backend, std::string_view replica) {
  return breaker_for(backend, replica).state(now_());
}

filter_status circuit_breaker_filter::check(message_context& ctx) {
  if (ctx.kind != jsonrpc::message_kind::request) {
    return filter_status::next;
  }
  const time_point now = now_();
  breaker& b = breaker_for(ctx.backend, ctx.replica);
  if (b.allow(now)) {
    let_through_.insert(call_key(ctx.session_id, ctx.id));
    return filter_status::next;
  }
  const auto wait = std::chrono::duration_cast<milliseconds>(b.retry_at() - now);
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f s",
                static_cast<double>(std::max<long long>(0, wait.count())) / 1000.0);
  ctx.reply.code = jsonrpc::backend_unavailable;
  ctx.reply.message =
      "backend '" + std::string(ctx.backend) + "'" +
      (ctx.replica.empty() ? std::string() : " (replica " + std::string(ctx.replica) + ")") +
      " is failing and the gateway stopped sending it calls (circuit open); " +
      (b.state(now) == breaker_state::half_open
           ? std::string("a probe call is testing it now; retry shortly")
           : "it will be tried again in " + std::string(seconds));
  return filter_status::stop;
}

net::awaitable<filter_status> circuit_breaker_filter::on_request(message_context& ctx) {
  co_return check(ctx);
}

void circuit_breaker_filter::on_complete(const request_record& record) {
  auto it = let_through_.find(call_key(record.session_id, record.client_id));
  if (it == let_through_.end()) {
    return;  // refused here or before: tells nothing about the backend
  }
  let_through_.erase(it);
  breaker& b = breaker_for(record.backend, record.replica);
  const time_point now = now_();
  const breaker_state before = b.state(now);
  switch (record.outcome) {
    case request_outcome::answered:
      b.on_success(now);
      break;
    case request_outcome::error:
      if (backend_failed(record.error_code)) {
        b.on_failure(now);
      } else {
        b.on_success(now);  // the backend answered, with an error of its own
      }
      break;
    case request_outcome::rejected:
    case request_outcome::cancelled:
    case request_outcome::abandoned:
      b.on_neutral();
      break;
  }
  const breaker_state after = b.state(now);
  if (before != after) {
    const char* name = after == breaker_state::open     ? "open"
                       : after == breaker_state::closed ? "closed"
                                                        : "half_open";
    log_.warn("circuit breaker",
              {{"backend", record.backend}, {"replica", record.replica}, {"state", name}});
  }
}

}  // namespace mcpgw::plugins::circuit_breaker
