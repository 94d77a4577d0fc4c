// The demo backend's MCP logic without sockets: its sessions and the answer to one POSTed
// JSON-RPC message. demo_backend.cc drives it from Asio; tests can call it directly.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mcpgw::demo {

// Told when its session is deleted, so that an open GET stream can end.
class session_listener {
 public:
  virtual void on_session_closed() = 0;

 protected:
  session_listener() = default;
  session_listener(const session_listener&) = default;
  session_listener& operator=(const session_listener&) = default;
  ~session_listener() = default;
};

// Sessions minted by `initialize`. Bounded: once full, new sessions are refused rather than
// old ones evicted, because a client silently losing its session is harder to debug.
class session_store {
 public:
  explicit session_store(std::size_t max_sessions) : max_sessions_{max_sessions} {}

  // The new id, or nullopt when the store is full. The view lives as long as the session.
  std::optional<std::string_view> mint();
  bool contains(std::string_view id) const { return sessions_.find(id) != sessions_.end(); }
  // Notifies the session's listeners; false if the id is unknown.
  bool erase(std::string_view id);
  bool add_listener(std::string_view id, session_listener& listener);
  void remove_listener(std::string_view id, session_listener& listener);
  std::size_t size() const { return sessions_.size(); }

 private:
  // Transparent so that lookups with the header's string_view do not allocate.
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::size_t max_sessions_;
  std::random_device entropy_;
  std::unordered_map<std::string, std::vector<session_listener*>, string_hash, std::equal_to<>>
      sessions_;
};

// What became of a POSTed message; the HTTP layer maps it to a status code.
enum class post_outcome {
  response,         // 200, `out` holds the JSON-RPC response
  accepted,         // 202, empty body (notification or client response)
  bad_request,      // 400, `out` holds a JSON-RPC error without id
  session_missing,  // 400, `out` holds a JSON-RPC error without id
  session_unknown,  // 404, `out` holds a JSON-RPC error without id
  unavailable,      // 503, session store full
};

struct post_result {
  post_outcome outcome;
  // Set when this message was an `initialize` that minted a session.
  std::optional<std::string_view> minted_session;
};

// Answers POSTed JSON-RPC messages. One per thread: it owns a reusable simdjson parser, so
// after warm-up handling a message allocates nothing.
class rpc_handler {
 public:
  // Spare bytes the body buffer must own past its end (simdjson reads ahead).
  static constexpr std::size_t padding = 64;

  explicit rpc_handler(session_store& sessions);
  ~rpc_handler();
  rpc_handler(const rpc_handler&) = delete;
  rpc_handler& operator=(const rpc_handler&) = delete;

  // `body.capacity()` must be at least `body.size() + padding`. `out` is cleared first.
  post_result handle_post(const std::string& body, std::optional<std::string_view> session_id,
                          std::string& out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mcpgw::demo
