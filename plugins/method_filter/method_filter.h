// The example filter (plugins/README.md walks through it): refuses client requests and
// notifications whose method matches a deny glob, and counts what it saw. Tests use it to
// check the chain's order, stops and completion hook.
#pragma once

#include "method_filter/config.h"

#include "mcpgw/filter.h"

#include <cstdint>

namespace mcpgw::plugins {

class method_filter final : public filter {
 public:
  explicit method_filter(method_filter_config config) : config_(std::move(config)) {}

  // No HTTP hook: said at once, or the chain would start the default one's coroutine.
  std::optional<filter_status> try_http(http_context&) override { return filter_status::next; }
  net::awaitable<filter_status> on_request(message_context& ctx) override;
  std::optional<filter_status> try_request(message_context& ctx) override;  // never waits
  void on_complete(const request_record& record) override;

  struct counters {
    std::uint64_t refused = 0;
    std::uint64_t completed = 0;
  };
  const counters& stats() const { return stats_; }

  // The decision alone, without I/O: what the unit tests drive.
  bool refuses(std::string_view method) const;

 private:
  method_filter_config config_;
  counters stats_;
};

}  // namespace mcpgw::plugins
