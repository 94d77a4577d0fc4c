// The rate_limit filter: every rule that matches a call (or an HTTP request) draws on its
// bucket for the call's key, or holds an in-flight slot until the call completes. A refused
// call gets a JSON-RPC error naming the rule and when to retry; a refused HTTP request 429 with
// Retry-After and RateLimit headers. Limits are per gateway process (store: local).
#pragma once

#include "rate_limit/config.h"
#include "rate_limit/token_bucket.h"

#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpgw::plugins::rate_limit {

class rate_limit_filter final : public filter {
 public:
  rate_limit_filter(rate_limit_config config, logger& log);

  net::awaitable<filter_status> on_http(http_context& ctx) override;
  net::awaitable<filter_status> on_request(message_context& ctx) override;
  void on_complete(const request_record& record) override;

  // Tests move time.
  void set_clock(std::function<time_point()> now) { now_ = std::move(now); }

  // The decisions, without coroutines (what the hooks run).
  filter_status check_http(http_context& ctx);
  filter_status check_call(message_context& ctx);

  struct counters {
    std::uint64_t limited = 0;      // calls refused by a rate
    std::uint64_t concurrency = 0;  // calls refused by an in-flight limit
    std::uint64_t http_limited = 0;
  };
  const counters& stats() const { return stats_; }
  std::size_t in_flight(std::size_t rule, std::string_view key) const;

 private:
  struct facts {
    std::string_view tenant, principal, session, route, backend, method, tool;
  };
  bool matches(const rule_config& r, const facts& f) const;
  std::string key_of(const rule_config& r, const facts& f) const;

  rate_limit_config config_;
  logger& log_;
  std::vector<bucket_set> buckets_;  // one per rule (rules without a rate: unused)
  std::vector<std::unordered_map<std::string, std::size_t>> in_flight_;  // per rule
  // The in-flight slots a call holds, released at its completion: session\nid -> (rule, key).
  std::map<std::string, std::vector<std::pair<std::size_t, std::string>>, std::less<>> held_;
  std::function<time_point()> now_;
  counters stats_;
};

}  // namespace mcpgw::plugins::rate_limit
