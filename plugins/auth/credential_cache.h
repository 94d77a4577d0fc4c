// Credentials the auth filter has already verified. An agent sends the same API key or token on
// every request; without this each request pays a SHA-256 (API keys) or a signature check
// (RS256 and ES256 cost tens of microseconds). Only credentials that verified are kept, so a
// flood of made-up ones neither fills the cache nor evicts good entries.
//
// An entry is used only on the route it was verified on (token audiences differ per route),
// while it is younger than max_age and, for tokens, until exp + leeway. The auth filter clears
// the cache when the issuer's key set changes. Single-threaded: one per auth filter, used on
// the event loop.
//
// Entries hold the credentials themselves, in process memory only (never written or logged),
// for at most max_age: as the request buffers hold them while a request is read. Where even
// that is too long, max_entries: 0 turns the cache off.
#pragma once

#include "mcpgw/filter.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgw::auth {

struct credential_cache_settings {
  std::size_t max_entries = 4096;  // 0 turns the cache off
  std::chrono::seconds max_age{300};
};

class credential_cache {
 public:
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  explicit credential_cache(credential_cache_settings settings) : settings_(settings) {}
  credential_cache(const credential_cache&) = delete;
  credential_cache& operator=(const credential_cache&) = delete;

  // The principal `credential` was verified as on `route`, as an API key or a token (`via`),
  // when that is still good at `now` (Unix seconds); null otherwise. A stale entry found here
  // is dropped.
  const principal* find(std::string_view credential, std::string_view route, principal::method via,
                        std::int64_t now);
  // Remembers a verified credential. `not_after`: the last second it is valid (a token's
  // exp + leeway), `never` for API keys.
  void put(std::string_view credential, std::string_view route, std::int64_t now,
           std::int64_t not_after, const principal& who);
  void clear();

  std::size_t size() const { return index_.size(); }
  bool enabled() const { return settings_.max_entries > 0; }

  struct counters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;  // the least recently used, to stay within max_entries
  };
  const counters& stats() const { return stats_; }

 private:
  struct entry {
    std::string credential;
    std::string route;
    std::int64_t verified_at = 0;
    std::int64_t not_after = 0;
    principal who;
  };
  using entries = std::list<entry>;  // most recently used first

  void erase(entries::iterator it);

  credential_cache_settings settings_;
  entries lru_;
  // Keys view the credential of their entry; list nodes do not move.
  std::unordered_map<std::string_view, entries::iterator> index_;
  counters stats_;
};

}  // namespace mcpgw::auth
