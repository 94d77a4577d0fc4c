#include "store/observed_store.h"

namespace mcpgw {

observed_session_store::observed_session_store(std::shared_ptr<session_store> inner, metrics& stats)
    : inner_(std::move(inner)) {
  static constexpr std::array<const char*, op_count> op_names{"put", "get", "touch", "erase"};
  static constexpr std::array<const char*, 3> outcome_names{"ok", "not_found", "unavailable"};
  const std::string store(inner_->type());
  for (std::size_t i = 0; i < op_count; ++i) {
    for (std::size_t o = 0; o < outcome_names.size(); ++o) {
      ops_[i].outcomes[o] = &stats.store_operations.Add(
          {{"store", store}, {"op", op_names[i]}, {"outcome", outcome_names[o]}});
    }
    ops_[i].latency = &stats.store_duration.Add({{"store", store}, {"op", op_names[i]}},
                                                metrics::request_buckets());
  }
}

void observed_session_store::count(op which, const store_result& result,
                                   std::chrono::steady_clock::time_point since) {
  ops_[which].outcomes[static_cast<std::size_t>(result.status)]->Increment();
  ops_[which].latency->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
}

boost::asio::awaitable<store_result> observed_session_store::put(const session_record& r,
                                                                 duration ttl) {
  auto since = std::chrono::steady_clock::now();
  store_result result = co_await inner_->put(r, ttl);
  count(op_put, result, since);
  co_return result;
}

boost::asio::awaitable<store_result> observed_session_store::get(std::string_view id,
                                                                 session_record& out) {
  auto since = std::chrono::steady_clock::now();
  store_result result = co_await inner_->get(id, out);
  count(op_get, result, since);
  co_return result;
}

boost::asio::awaitable<store_result> observed_session_store::touch(std::string_view id,
                                                                   duration ttl) {
  auto since = std::chrono::steady_clock::now();
  store_result result = co_await inner_->touch(id, ttl);
  count(op_touch, result, since);
  co_return result;
}

boost::asio::awaitable<store_result> observed_session_store::erase(std::string_view id) {
  auto since = std::chrono::steady_clock::now();
  store_result result = co_await inner_->erase(id);
  count(op_erase, result, since);
  co_return result;
}

}  // namespace mcpgw
