// The circuit_breaker filter: one breaker per backend. A call to a backend whose breaker is
// open is refused at once with a JSON-RPC error naming the backend and when it will be tried
// again; the outcome of every call let through tells the breaker how the backend is doing
// (timeouts, unreachable and broken answers fail; tool results, isError included, succeed).
#pragma once

#include "circuit_breaker/breaker.h"
#include "circuit_breaker/config.h"

#include "mcpgw/metrics.h"

#include <functional>
#include <map>
#include <set>
#include <string>

namespace mcpgw::plugins::circuit_breaker {

class circuit_breaker_filter final : public filter {
 public:
  circuit_breaker_filter(breaker_config config, logger& log);

  // No HTTP hook: said at once, or the chain would start the default one's coroutine.
  std::optional<filter_status> try_http(http_context&) override { return filter_status::next; }
  net::awaitable<filter_status> on_request(message_context& ctx) override;
  std::optional<filter_status> try_request(message_context& ctx) override { return check(ctx); }
  void on_complete(const request_record& record) override;

  void set_clock(std::function<time_point()> now) { now_ = std::move(now); }
  filter_status check(message_context& ctx);
  breaker_state state_of(std::string_view backend, std::string_view replica = {});
  // Every breaker's state in mcpgw_circuit_state{backend, replica} (0 closed, 1 half-open,
  // 2 open), read at each scrape.
  void count_into(metrics& m);

 private:
  breaker& breaker_for(std::string_view backend, std::string_view replica);

  breaker_config config_;
  logger& log_;
  std::map<std::string, breaker, std::less<>> breakers_;
  std::set<std::string, std::less<>> let_through_;  // session\nid of calls the breaker allowed
  std::function<time_point()> now_;
};

}  // namespace mcpgw::plugins::circuit_breaker
