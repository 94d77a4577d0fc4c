#include "circuit_breaker/breaker.h"

#include <algorithm>

namespace mcpgw::plugins::circuit_breaker {

breaker_state breaker::state(time_point now) {
  if (state_ == breaker_state::open && now >= retry_at()) {
    state_ = breaker_state::half_open;
    probes_in_flight_ = 0;
  }
  return state_;
}

bool breaker::allow(time_point now) {
  switch (state(now)) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      return false;
    case breaker_state::half_open:
      if (probes_in_flight_ < settings_.half_open_probes) {
        ++probes_in_flight_;
        return true;
      }
      return false;
  }
  return false;
}

void breaker::record(time_point now, bool failed) {
  if (settings_.failure_ratio <= 0) {
    return;
  }
  window_.emplace_back(now, failed);
  while (!window_.empty() && now - window_.front().first > settings_.window) {
    window_.pop_front();
  }
}

void breaker::on_success(time_point now) {
  consecutive_ = 0;
  if (state_ == breaker_state::half_open) {
    // The backend answered a probe: back to normal, with a clean slate.
    state_ = breaker_state::closed;
    probes_in_flight_ = 0;
    window_.clear();
    return;
  }
  record(now, false);
}

void breaker::on_failure(time_point now) {
  if (state_ == breaker_state::half_open) {
    trip(now);
    return;
  }
  if (state_ == breaker_state::open) {
    return;  // a call let through before the breaker opened
  }
  ++consecutive_;
  record(now, true);
  if (settings_.consecutive_failures > 0 && consecutive_ >= settings_.consecutive_failures) {
    trip(now);
    return;
  }
  if (settings_.failure_ratio > 0 && window_.size() >= settings_.min_calls) {
    const auto failures = static_cast<double>(
        std::count_if(window_.begin(), window_.end(), [](const auto& e) { return e.second; }));
    if (failures / static_cast<double>(window_.size()) >= settings_.failure_ratio) {
      trip(now);
    }
  }
}

void breaker::on_neutral() {
  if (state_ == breaker_state::half_open && probes_in_flight_ > 0) {
    --probes_in_flight_;
  }
}

void breaker::trip(time_point now) {
  state_ = breaker_state::open;
  opened_at_ = now;
  consecutive_ = 0;
  probes_in_flight_ = 0;
  window_.clear();
  ++trips_;
}

}  // namespace mcpgw::plugins::circuit_breaker
