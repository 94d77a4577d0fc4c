// Where the Redis server is and how to talk to it: parsed from session_store's url at config
// time (no Asio here, so the config parser stays light), used by redis_client.
#pragma once

#include "mcpgw/config.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcpgw {

struct redis_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  int db = 0;
  std::string username;  // ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  duration connect_timeout = std::chrono::seconds(1);
  duration command_timeout = std::chrono::seconds(1);
  duration reconnect_max = std::chrono::seconds(5);  // back-off doubles from 100 ms to this
};

// Reads redis://[[user]:password@]host[:port][/db] into `out`; false with `error` naming the
// part that is wrong.
bool parse_redis_url(std::string_view url, redis_options& out, std::string& error);
// The options of session_store (type: redis), its URL already validated.
redis_options redis_options_from(const session_store_config& config);

}  // namespace mcpgw
