// The rate_limit filter: every rule that matches a call (or an HTTP request) draws on its
// bucket for the call's key, or holds an in-flight slot until the call completes. A refused
// call gets a JSON-RPC error naming the rule and when to retry; a refused HTTP request 429 with
// Retry-After and RateLimit headers. Rates are counted in this process (store: local) or in
// Redis for all replicas (store: redis); in-flight limits are always per process.
#pragma once

#include "rate_limit/config.h"
#include "rate_limit/global_buckets.h"
#include "rate_limit/token_bucket.h"

#include "mcpgw/metrics.h"

#include <boost/container/small_vector.hpp>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpgw::plugins::rate_limit {

class rate_limit_filter final : public filter {
 public:
  // `redis`: the connection global rates are counted on (store: redis), else null;
  // `key_prefix`: the session store's, which the buckets' keys start with.
  // The local rates' buckets and the in-flight counts. With several workers (`workers:`) their
  // filters share one set, under its lock, so that a limit holds for the process.
  struct counts {
    explicit counts(const rate_limit_config& config);
    std::mutex mutex;
    std::vector<bucket_set> buckets;  // one per rule (rules without a rate: unused)
    std::vector<std::unordered_map<std::string, std::size_t>> in_flight;  // per rule
  };

  // `redis`: the connection global rates are counted on (store: redis), else null;
  // `key_prefix`: the session store's, which the buckets' keys start with; `shared`: the
  // counts of the other workers' filters (null: counts of its own, unlocked).
  rate_limit_filter(rate_limit_config config, logger& log,
                    std::shared_ptr<redis_client> redis = nullptr, std::string key_prefix = {},
                    std::shared_ptr<counts> shared = nullptr);

  net::awaitable<filter_status> on_http(http_context& ctx) override;
  net::awaitable<filter_status> on_request(message_context& ctx) override;
  // Local buckets decide at once; global ones (Redis) need the asynchronous hooks.
  std::optional<filter_status> try_http(http_context& ctx) override;
  std::optional<filter_status> try_request(message_context& ctx) override;
  void on_complete(const request_record& record) override;

  // Tests move time.
  void set_clock(std::function<time_point()> now) { now_ = std::move(now); }

  // The decisions with local rates, without coroutines (what the hooks run with store: local).
  filter_status check_http(http_context& ctx);
  filter_status check_call(message_context& ctx);

  struct counters {
    std::uint64_t limited = 0;      // calls refused by a rate
    std::uint64_t concurrency = 0;  // calls refused by an in-flight limit
    std::uint64_t http_limited = 0;
    std::uint64_t store_errors = 0;  // Redis could not be asked (on_store_error applied)
    std::uint64_t store_denied = 0;  // refused because of that (on_store_error: deny)
  };
  const counters& stats() const { return stats_; }
  // Refusals are also counted in mcpgw_rate_limit_rejections_total{rule, reason}.
  void count_into(metrics& m);
  std::size_t in_flight(std::size_t rule, std::string_view key) const;

 private:
  struct facts {
    std::string_view tenant, principal, session, route, backend, method, tool;
  };
  bool matches(const rule_config& r, const facts& f) const;
  std::string key_of(const rule_config& r, const facts& f) const;

  // The rate rules a call or HTTP request draws on: (rule, key), in rule order. A few rules
  // match a call: they are kept in the object, not allocated per call.
  using draws = boost::container::small_vector<std::pair<std::size_t, std::string>, 4>;
  // Takes a token for each draw from the local buckets; the refused one's index and retry.
  bool take_local(const draws& d, std::size_t& refused, std::chrono::milliseconds& retry);
  // The same in Redis; on a store error, on_store_error decides (`unavailable` set when it
  // refuses for that reason).
  net::awaitable<bool> take_global(const draws& d, std::size_t& refused,
                                   std::chrono::milliseconds& retry, bool& unavailable);
  // Matches the call rules, takes the in-flight slots (kept in `slots`) and collects the rate
  // draws; stop when an in-flight limit refuses.
  filter_status begin_call(message_context& ctx, const facts& f,
                           std::vector<std::pair<std::size_t, std::string>>& slots, draws& rates);
  void release(std::vector<std::pair<std::size_t, std::string>>& slots);
  void release_locked(std::vector<std::pair<std::size_t, std::string>>& slots);
  // The counts' lock when they are shared; an empty lock when they are this filter's own.
  std::unique_lock<std::mutex> lock_counts() const {
    return locked_ ? std::unique_lock(counts_->mutex) : std::unique_lock<std::mutex>();
  }
  static facts call_facts(const message_context& ctx);
  // Keeps a call's in-flight slots until its completion.
  void hold(const message_context& ctx, std::vector<std::pair<std::size_t, std::string>>& slots);
  void refuse_call(message_context& ctx, std::size_t rule, std::chrono::milliseconds retry);
  void refuse_http(http_context& ctx, std::size_t rule, std::chrono::milliseconds retry);
  void refuse_unavailable(local_reply& reply);
  draws http_draws(const facts& f) const;

  rate_limit_config config_;
  logger& log_;
  std::shared_ptr<counts> counts_;
  bool locked_ = false;
  // The in-flight slots a call holds, released at its completion: session\nid -> (rule, key).
  std::map<std::string, std::vector<std::pair<std::size_t, std::string>>, std::less<>> held_;
  std::function<time_point()> now_;
  counters stats_;
  // Per rule: refusals by its rate and by its in-flight limit; then the store's denials.
  std::vector<std::array<prometheus::Counter*, 2>> rejections_;
  prometheus::Counter* store_rejections_ = nullptr;
  std::unique_ptr<global_buckets> global_;  // store: redis
};

}  // namespace mcpgw::plugins::rate_limit
