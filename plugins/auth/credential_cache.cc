#include "auth/credential_cache.h"

namespace mcpgw::auth {

const principal* credential_cache::find(std::string_view credential, std::string_view route,
                                        principal::method via, std::int64_t now) {
  if (!enabled()) {
    return nullptr;
  }
  auto found = index_.find(credential);
  if (found == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  auto it = found->second;
  // A clock that went back is not trusted to say the entry is young.
  const bool fresh = now >= it->verified_at && now - it->verified_at < settings_.max_age.count() &&
                     now <= it->not_after;
  if (!fresh) {
    erase(it);
    ++stats_.misses;
    return nullptr;
  }
  if (it->route != route || it->who.via != via) {
    // Verified for another audience, or as a token and now sent as an API key (or the other
    // way round): the caller checks it as what it is now and replaces the entry on success.
    ++stats_.misses;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it);
  ++stats_.hits;
  return &it->who;
}

void credential_cache::put(std::string_view credential, std::string_view route, std::int64_t now,
                           std::int64_t not_after, const principal& who) {
  if (!enabled()) {
    return;
  }
  if (auto found = index_.find(credential); found != index_.end()) {
    erase(found->second);
  }
  while (index_.size() >= settings_.max_entries) {
    erase(std::prev(lru_.end()));
    ++stats_.evictions;
  }
  lru_.push_front(entry{std::string(credential), std::string(route), now, not_after, who});
  index_.emplace(lru_.front().credential, lru_.begin());
}

void credential_cache::clear() {
  index_.clear();
  lru_.clear();
}

void credential_cache::erase(entries::iterator it) {
  index_.erase(it->credential);
  lru_.erase(it);
}

}  // namespace mcpgw::auth
