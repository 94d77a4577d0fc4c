// Several event loops in one process (`workers:`), each with its own io_context, connections,
// backend pools and stdio processes. A session belongs to one worker, the one its id hashes
// to: a worker mints ids that hash to itself, and a connection whose request names another
// worker's session is handed to that worker, so session state never crosses threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mcpgw::workers {

// The worker that holds the session `id` among `count` (FNV-1a of the id). Any id maps to a
// worker; one no worker minted is simply not found there.
inline std::size_t owner_of(std::string_view id, std::size_t count) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : id) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return count <= 1 ? 0 : static_cast<std::size_t>(h % count);
}

// Counts `counter` up by one unless it has reached `limit`; false then. One step for every
// worker at once: two workers taking the last unit together cannot both have it.
inline bool take_one(std::atomic<std::size_t>& counter, std::size_t limit) {
  std::size_t now = counter.load(std::memory_order_relaxed);
  do {
    if (now >= limit) {
      return false;
    }
  } while (!counter.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

// What the workers of one process share besides the configuration.
struct shared {
  // Client connections open across all workers, for limits.max_connections.
  std::atomic<std::size_t> connections{0};
  // Sessions held (and initializes in progress) across all workers, for
  // session_store.max_sessions.
  std::atomic<std::size_t> sessions{0};
  // Workers done draining: the last one stops every io_context.
  std::atomic<std::size_t> drained{0};
};

}  // namespace mcpgw::workers
