// String buffers recycled per thread. A proxied request passes through three bodies the
// gateway writes itself: the request spliced for the backend, the backend's answer as read,
// and the answer spliced for the client. Each used to be a fresh heap block; a finished
// request now gives its buffers back and the next one takes them, so once warm the forward
// path allocates none for its bodies.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mcpgw::buffer_pool {

// Buffers kept per thread, and the largest one kept: a burst of big bodies is not pinned.
inline constexpr std::size_t max_kept = 64;
inline constexpr std::size_t max_capacity = std::size_t{64} << 10;

namespace detail {
inline std::vector<std::string>& kept() {
  thread_local std::vector<std::string> buffers;
  return buffers;
}
}  // namespace detail

// An empty string, with the capacity of a buffer given back earlier when the thread has one.
inline std::string take() {
  auto& kept = detail::kept();
  if (kept.empty()) {
    return {};
  }
  std::string buffer = std::move(kept.back());
  kept.pop_back();
  return buffer;
}

// Keeps `buffer` (emptied) for a later take(), unless it is small enough to live inside the
// string anyway, too big, or the thread keeps enough already.
inline void give(std::string&& buffer) {
  auto& kept = detail::kept();
  if (buffer.capacity() < 64 || buffer.capacity() > max_capacity || kept.size() >= max_kept) {
    return;
  }
  buffer.clear();
  kept.push_back(std::move(buffer));
}

// Buffers kept by this thread now (tests).
inline std::size_t kept_now() { return detail::kept().size(); }

// A string that goes back to the pool when it goes out of scope.
class pooled {
 public:
  pooled() : value_(take()) {}
  explicit pooled(std::string&& value) : value_(std::move(value)) {}
  ~pooled() { give(std::move(value_)); }
  pooled(const pooled&) = delete;
  pooled& operator=(const pooled&) = delete;

  std::string& operator*() { return value_; }
  const std::string& operator*() const { return value_; }
  std::string* operator->() { return &value_; }
  const std::string* operator->() const { return &value_; }

 private:
  std::string value_;
};

}  // namespace mcpgw::buffer_pool
