// Rate limiting as arithmetic, without I/O or clocks of its own: token buckets keyed by
// whatever a rule counts per (tenant, principal, ...). The rate_limit filter owns one
// bucket_set per rule and passes the time in; tests move time instead of sleeping.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgw::plugins::rate_limit {

using time_point = std::chrono::steady_clock::time_point;

struct bucket_rule {
  double limit = 1;  // tokens per `per`
  std::chrono::milliseconds per{1000};
  double burst = 1;  // bucket size
};

struct decision {
  bool allowed = true;
  double remaining = 0;                      // whole tokens left after this call
  std::chrono::milliseconds retry_after{0};  // when one token will be there (refused calls)
  std::chrono::milliseconds reset{0};        // when the bucket will be full again
};

class bucket_set {
 public:
  explicit bucket_set(bucket_rule rule, std::size_t max_keys = 100000)
      : rule_(rule), max_keys_(max_keys) {}

  // Takes one token from the bucket of `key`, if there is one.
  decision take(std::string_view key, time_point now);
  std::size_t size() const { return buckets_.size(); }

 private:
  struct bucket {
    double tokens;
    time_point updated;
  };
  double rate_per_ms() const { return rule_.limit / static_cast<double>(rule_.per.count()); }
  // Drops buckets that have refilled completely: they hold no information.
  void sweep(time_point now);

  bucket_rule rule_;
  std::size_t max_keys_;
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace mcpgw::plugins::rate_limit
