// The token issuer's signing keys: parsed from a JWKS file at start-up, or fetched from a
// JWKS URL in the background, cached, refreshed on a period and early when a token names a
// key the cache does not have. The auth filter reads keys(); the server starts and stops it.
#pragma once

#include "auth/jwt.h"

#include "backend/http_backend.h"
#include "mcpgw/config.h"
#include "mcpgw/log.h"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace mcpgw::plugins {

struct jwks_fetch_settings {
  std::string url;
  duration refresh = std::chrono::minutes(10);      // re-fetch period once loaded
  duration min_refresh = std::chrono::seconds(30);  // no more often than this, even for new kids
  duration timeout = std::chrono::seconds(10);      // one fetch
  std::string ca_file;                              // extra trust anchors for https
};

class jwks_source : public std::enable_shared_from_this<jwks_source> {
 public:
  // Fixed keys (a JWKS file).
  explicit jwks_source(std::shared_ptr<const auth::jwk_set> keys) : keys_(std::move(keys)) {}
  // Keys from a URL, fetched once started.
  jwks_source(net::any_io_executor ex, jwks_fetch_settings settings, logger& log);

  // Null until the first fetch succeeded.
  std::shared_ptr<const auth::jwk_set> keys() const { return keys_; }
  // The same set without a reference taken: to tell whether it changed.
  const auth::jwk_set* current_keys() const { return keys_.get(); }
  bool fetched() const { return settings_.url.empty() || keys_ != nullptr; }

  void start();
  void stop();
  // A token named a key id the cache lacks: fetch now, unless a fetch was made within
  // min_refresh (a flood of tokens with made-up kids must not become a flood of fetches).
  void refresh_soon();

  struct counters {
    std::uint64_t fetches = 0;
    std::uint64_t failures = 0;
  };
  const counters& stats() const { return stats_; }

 private:
  net::awaitable<void> run(std::shared_ptr<jwks_source> self);
  // One fetch; false (with the reason logged) when the keys could not be had.
  net::awaitable<bool> fetch();

  std::shared_ptr<const auth::jwk_set> keys_;
  std::string document_;  // the JWKS keys_ came from (a URL's): an equal one changes nothing
  jwks_fetch_settings settings_;
  logger* log_ = nullptr;
  backend_config backend_;
  limits_config limits_;
  std::unique_ptr<http_backend> http_;
  std::unique_ptr<net::steady_timer> timer_;
  std::chrono::steady_clock::time_point last_fetch_{};
  bool stopped_ = false;
  bool running_ = false;
  counters stats_;
};

}  // namespace mcpgw::plugins
