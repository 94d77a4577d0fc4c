// A session store seen through the metrics: every operation counted by store, op and outcome
// (mcpgw_session_store_operations_total) and timed (mcpgw_session_store_duration_seconds).
// Wraps whichever store the configuration made; main puts it in front when metrics are on.
#pragma once

#include "store/session_store.h"

#include "mcpgw/metrics.h"

#include <array>

namespace mcpgw {

class observed_session_store final : public session_store {
 public:
  observed_session_store(std::shared_ptr<session_store> inner, metrics& stats);

  std::string_view type() const override { return inner_->type(); }
  bool shared() const override { return inner_->shared(); }
  boost::asio::awaitable<store_result> put(const session_record& r, duration ttl) override;
  boost::asio::awaitable<store_result> get(std::string_view id, session_record& out) override;
  boost::asio::awaitable<store_result> touch(std::string_view id, duration ttl) override;
  boost::asio::awaitable<store_result> erase(std::string_view id) override;
  std::uint64_t operations() const override { return inner_->operations(); }

 private:
  enum op : std::size_t { op_put, op_get, op_touch, op_erase, op_count };
  struct children {
    std::array<prometheus::Counter*, 3> outcomes{};  // by store_status
    prometheus::Histogram* latency = nullptr;
  };
  void count(op which, const store_result& result, std::chrono::steady_clock::time_point since);

  std::shared_ptr<session_store> inner_;
  std::array<children, op_count> ops_{};
};

}  // namespace mcpgw
