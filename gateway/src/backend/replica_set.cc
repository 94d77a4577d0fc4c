#include "backend/replica_set.h"

#include <limits>

namespace mcpgw {

replica_set::replica_set(std::vector<std::string> urls, balance_policy policy,
                         std::size_t unhealthy_after)
    : policy_(policy), unhealthy_after_(std::max<std::size_t>(unhealthy_after, 1)) {
  for (auto& u : urls) {
    replicas_.push_back(replica{std::move(u)});
  }
}

std::optional<std::size_t> replica_set::find(std::string_view url) const {
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    if (replicas_[i].url == url) {
      return i;
    }
  }
  return std::nullopt;
}

std::uint64_t replica_set::stable_hash(std::string_view a, std::string_view b) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  mix(a);
  mix(std::string_view("\n", 1));
  mix(b);
  return h;
}

std::size_t replica_set::pick(std::string_view tenant) {
  bool any_healthy = false;
  for (const auto& r : replicas_) {
    any_healthy = any_healthy || r.healthy;
  }
  auto eligible = [&](std::size_t i) { return !any_healthy || replicas_[i].healthy; };
  const std::size_t n = replicas_.size();
  switch (policy_) {
    case balance_policy::hash_tenant: {
      std::size_t best = 0;
      std::uint64_t best_score = 0;
      bool found = false;
      for (std::size_t i = 0; i < n; ++i) {
        if (!eligible(i)) {
          continue;
        }
        std::uint64_t score = stable_hash(tenant, replicas_[i].url);
        if (!found || score > best_score) {
          best = i;
          best_score = score;
          found = true;
        }
      }
      return best;
    }
    case balance_policy::least_loaded: {
      std::size_t best = 0;
      std::size_t least = std::numeric_limits<std::size_t>::max();
      // Ties go round robin, so an idle set still spreads.
      for (std::size_t k = 0; k < n; ++k) {
        std::size_t i = (next_ + k) % n;
        if (eligible(i) && replicas_[i].sessions < least) {
          best = i;
          least = replicas_[i].sessions;
        }
      }
      next_ = (best + 1) % n;
      return best;
    }
    case balance_policy::round_robin:
      break;
  }
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (next_ + k) % n;
    if (eligible(i)) {
      next_ = (i + 1) % n;
      return i;
    }
  }
  return 0;
}

bool replica_set::record_probe(std::size_t i, bool ok) {
  replica& r = replicas_[i];
  if (ok) {
    r.failures = 0;
    if (!r.healthy) {
      r.healthy = true;
      return true;
    }
    return false;
  }
  ++r.failures;
  if (r.healthy && r.failures >= unhealthy_after_) {
    r.healthy = false;
    return true;
  }
  return false;
}

}  // namespace mcpgw
