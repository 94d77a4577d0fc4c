// A circuit breaker as a state machine without I/O or a clock of its own: closed (calls go
// through, failures counted), open (calls refused until open_for has passed), half-open (a
// few probes go through; success closes, failure opens again). The circuit_breaker filter
// keeps one per backend and tells it what happened; tests move time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace mcpgw::plugins::circuit_breaker {

using time_point = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

struct breaker_settings {
  std::size_t consecutive_failures = 5;  // trips the breaker; 0: not by count
  double failure_ratio = 0;              // trips when failures/calls in `window` reach it; 0: off
  milliseconds window{30000};
  std::size_t min_calls = 20;  // the ratio needs at least this many calls in the window
  milliseconds open_for{30000};
  std::size_t half_open_probes = 1;  // calls let through while half-open
};

enum class breaker_state : std::uint8_t { closed, open, half_open };

class breaker {
 public:
  explicit breaker(breaker_settings settings) : settings_(settings) {}

  // May a call go through now? While half-open, a `true` takes one of the probe slots.
  bool allow(time_point now);
  void on_success(time_point now);
  void on_failure(time_point now);
  // A call that was let through ended without a verdict (cancelled): its probe slot is free.
  void on_neutral();

  breaker_state state(time_point now);
  // While open: when calls will be let through again.
  time_point retry_at() const { return opened_at_ + settings_.open_for; }
  std::uint64_t trips() const { return trips_; }

 private:
  void trip(time_point now);
  void record(time_point now, bool failed);

  breaker_settings settings_;
  breaker_state state_ = breaker_state::closed;
  std::size_t consecutive_ = 0;
  time_point opened_at_{};
  std::size_t probes_in_flight_ = 0;
  std::deque<std::pair<time_point, bool>> window_;  // (when, failed)
  std::uint64_t trips_ = 0;
};

}  // namespace mcpgw::plugins::circuit_breaker
