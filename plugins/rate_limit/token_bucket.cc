#include "rate_limit/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace mcpgw::plugins::rate_limit {

decision bucket_set::take(std::string_view key, time_point now) {
  if (buckets_.size() >= max_keys_) {
    sweep(now);
  }
  auto [it, inserted] = buckets_.try_emplace(std::string(key), bucket{rule_.burst, now});
  bucket& b = it->second;
  const double elapsed_ms =
      std::max(0.0, std::chrono::duration<double, std::milli>(now - b.updated).count());
  b.tokens = std::min(rule_.burst, b.tokens + elapsed_ms * rate_per_ms());
  b.updated = now;
  decision out;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    out.allowed = true;
  } else {
    out.allowed = false;
    out.retry_after = std::chrono::milliseconds(
        static_cast<long long>(std::ceil((1.0 - b.tokens) / rate_per_ms())));
  }
  out.remaining = std::floor(b.tokens);
  out.reset = std::chrono::milliseconds(
      static_cast<long long>(std::ceil((rule_.burst - b.tokens) / rate_per_ms())));
  return out;
}

void bucket_set::sweep(time_point now) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const double elapsed_ms =
        std::chrono::duration<double, std::milli>(now - entry.second.updated).count();
    return entry.second.tokens + elapsed_ms * rate_per_ms() >= rule_.burst;
  });
}

}  // namespace mcpgw::plugins::rate_limit
