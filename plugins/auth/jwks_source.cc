#include "auth/jwks_source.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace mcpgw::plugins {

jwks_source::jwks_source(net::any_io_executor ex, jwks_fetch_settings settings, logger& log)
    : settings_(std::move(settings)), log_(&log) {
  backend_.name = "jwks";
  backend_.http.url = settings_.url;
  backend_.http.timeout = settings_.timeout;
  backend_.http.connect_timeout = settings_.timeout;
  backend_.http.ca_file = settings_.ca_file;
  backend_.http.max_idle_connections = 1;
  limits_.max_backend_message = auth::max_jwks_bytes;
  http_ = std::make_unique<http_backend>(ex, backend_, limits_, log);
  timer_ = std::make_unique<net::steady_timer>(ex);
}

void jwks_source::start() {
  if (!http_ || running_) {
    return;
  }
  running_ = true;
  // The loop holds the source alive; stop() ends it.
  net::co_spawn(http_->executor(), run(shared_from_this()), net::detached);
}

void jwks_source::stop() {
  stopped_ = true;
  if (timer_) {
    timer_->cancel();
  }
}

void jwks_source::refresh_soon() {
  if (!timer_ || stopped_ ||
      std::chrono::steady_clock::now() - last_fetch_ < settings_.min_refresh) {
    return;
  }
  timer_->cancel();
}

net::awaitable<void> jwks_source::run(std::shared_ptr<jwks_source> self) {
  duration retry = std::chrono::seconds(1);
  while (!stopped_) {
    last_fetch_ = std::chrono::steady_clock::now();
    const bool ok = co_await fetch();
    if (stopped_) {
      break;
    }
    duration wait = settings_.refresh;
    if (!ok) {
      // Back off while the issuer is unreachable, but not past the refresh period.
      wait = std::min(retry, settings_.refresh);
      retry = std::min<duration>(retry * 2, std::chrono::minutes(1));
    } else {
      retry = std::chrono::seconds(1);
    }
    timer_->expires_after(wait);
    co_await timer_->async_wait(net::as_tuple(net::use_awaitable));
    // A cancel (refresh_soon) fetches at once, but never more often than min_refresh.
    auto since = std::chrono::steady_clock::now() - last_fetch_;
    if (!stopped_ && ok && since < settings_.min_refresh) {
      timer_->expires_after(settings_.min_refresh - since);
      co_await timer_->async_wait(net::as_tuple(net::use_awaitable));
    }
  }
  running_ = false;
  (void)self;
}

net::awaitable<bool> jwks_source::fetch() {
  ++stats_.fetches;
  backend_request get;
  get.method = http::verb::get;
  get.accept = "application/json, application/jwk-set+json";
  auto [failure, exchange] = co_await http_->send(get);
  std::string body;
  std::string why;
  if (failure != backend_failure::none) {
    why = failure == backend_failure::timeout ? "timed out" : "unreachable";
  } else if (exchange->status() != 200) {
    why = "answered HTTP " + std::to_string(exchange->status());
  } else if (co_await exchange->read_body(body) != backend_failure::none) {
    why = "the body could not be read (over 1 MiB, or cut short)";
  }
  if (why.empty() && keys_ != nullptr && body == document_) {
    // The same document: the same keys. The set stays, and with it the tokens the auth
    // filter's credential cache holds (a new set empties it).
    log_->debug("jwks unchanged", {{"url", settings_.url}});
    co_return true;
  }
  if (why.empty()) {
    auth::jwks_result parsed = auth::parse_jwks(body);
    if (parsed.keys) {
      // A shared secret published at a URL is no secret: anyone could sign with it.
      auto keys = std::make_shared<auth::jwk_set>(*parsed.keys);
      std::erase_if(keys->keys, [](const auth::jwk& k) { return k.kind == auth::jwk::type::oct; });
      if (keys->keys.size() != parsed.keys->keys.size()) {
        log_->warn("jwks: symmetric (oct) keys from a URL ignored", {{"url", settings_.url}});
      }
      if (keys->keys.empty()) {
        parsed.keys.reset();
        parsed.error = "no usable public key (symmetric keys are not taken from a URL)";
      } else {
        parsed.keys = std::move(keys);
      }
    }
    if (parsed.keys) {
      const bool first = keys_ == nullptr;
      keys_ = std::move(parsed.keys);
      document_ = std::move(body);
      log_->info(first ? "jwks loaded" : "jwks refreshed",
                 {{"url", settings_.url}, {"keys", std::to_string(keys_->keys.size())}});
      co_return true;
    }
    why = parsed.error;
  }
  ++stats_.failures;
  // The cached keys stay in use: an issuer hiccup must not lock every client out.
  log_->warn("jwks fetch failed",
             {{"url", settings_.url}, {"error", why}, {"cached", keys_ ? "kept" : "none yet"}});
  co_return false;
}

}  // namespace mcpgw::plugins
