#include "backend/backend_group.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpgw {

namespace {

std::vector<std::string> urls_of(const backend_config& config) {
  return config.http.urls.empty() ? std::vector<std::string>{config.http.url} : config.http.urls;
}

}  // namespace

backend_group::backend_group(net::any_io_executor ex, const backend_config& config,
                             const limits_config& limits, logger& log)
    : ex_(ex),
      config_(config),
      log_(log),
      set_(std::make_shared<replica_set>(urls_of(config), config.http.balance,
                                         config.http.unhealthy_after)) {
  for (std::size_t i = 0; i < set_->size(); ++i) {
    backend_config one = config;
    one.http.url = set_->url(i);
    replicas_.push_back(std::make_unique<http_backend>(ex, one, limits, log));
    // One replica is probed only when /readyz depends on it: with nowhere else to send a
    // session, taking it out of rotation changes nothing.
    if (set_->size() > 1 || config.required) {
      backend_config probe = one;
      probe.http.timeout = config.http.health_timeout;
      probe.http.connect_timeout = config.http.health_timeout;
      probe.http.retry_attempts = 1;
      probe.http.max_idle_connections = 1;
      probes_.push_back(std::make_unique<http_backend>(ex, probe, limits, log));
    }
  }
}

backend_group::~backend_group() = default;

void backend_group::start() {
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    timers_.push_back(std::make_unique<net::steady_timer>(ex_));
    ++running_;
    net::co_spawn(ex_, probe_loop(i), net::detached);
  }
}

void backend_group::stop() {
  stopped_ = true;
  for (auto& t : timers_) {
    t->cancel();
  }
}

net::awaitable<void> backend_group::probe_loop(std::size_t i) {
  net::steady_timer& timer = *timers_[i];
  while (!stopped_) {
    backend_request probe;
    probe.method = http::verb::get;
    auto [failure, exchange] = co_await probes_[i]->send(probe);
    if (stopped_) {
      break;
    }
    // Any HTTP answer below 500 (an MCP endpoint answers a GET without a session 400 or 405)
    // means the server is there.
    const bool alive = failure == backend_failure::none && exchange->status() < 500;
    exchange.reset();
    if (set_->record_probe(i, alive)) {
      replicas_[i]->drop_idle_connections();
      if (alive) {
        log_.info("backend replica up", {{"backend", config_.name}, {"replica", set_->url(i)}});
      } else {
        log_.warn("backend replica down; its sessions end",
                  {{"backend", config_.name},
                   {"replica", set_->url(i)},
                   {"failures", std::to_string(config_.http.unhealthy_after)}});
      }
    }
    timer.expires_after(config_.http.health_interval);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
  --running_;
}

}  // namespace mcpgw
