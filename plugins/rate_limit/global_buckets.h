// Token buckets kept in Redis, so every replica draws on one budget: one Lua script takes a
// token from each bucket a call draws on, atomically and on the Redis server's clock, and
// stops at the first empty one. Used by the rate_limit filter with `store: redis`.
#pragma once

#include "rate_limit/token_bucket.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace mcpgw {
class redis_client;
struct redis_reply;
}  // namespace mcpgw

namespace mcpgw::plugins::rate_limit {

// One bucket a call draws on: its Redis key and its rule.
struct global_draw {
  std::string key;
  bucket_rule rule;
};

struct global_decision {
  enum class outcome { allowed, refused, unavailable };
  outcome result = outcome::allowed;
  std::size_t refused = 0;  // outcome::refused: index of the draw whose bucket was empty
  std::chrono::milliseconds retry_after{0};
  std::string error;  // outcome::unavailable: why
};

// The script's arguments for `draws` (sans-I/O, for tests): EVALSHA sha n key... rate burst...
std::vector<std::string> script_arguments(std::string_view sha, std::span<const global_draw> draws);
// Reads the script's reply {refused index (1-based, 0: none), retry ms}.
global_decision read_script_reply(const redis_reply& reply, std::size_t draws);

class global_buckets {
 public:
  global_buckets(std::shared_ptr<redis_client> redis, std::string key_prefix);

  // The key of `rule_name`'s bucket for `key` (what the rule counts per).
  std::string bucket_key(std::string_view rule_name, std::string_view key) const;
  boost::asio::awaitable<global_decision> take(std::span<const global_draw> draws);

  static const std::string& script();

 private:
  std::shared_ptr<redis_client> redis_;
  std::string prefix_;
  std::string sha_;
};

}  // namespace mcpgw::plugins::rate_limit
