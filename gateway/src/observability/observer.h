// The gateway's own link at the end of the filter chain: every finished client request is
// counted in the metrics and, with observability.access_log, written as one log line; tools/list
// answers teach the metrics which tool names are label values. Added by filter_chain::build.
#pragma once

#include "mcpgw/filter.h"
#include "mcpgw/metrics.h"

namespace mcpgw {

class observer final : public filter {
 public:
  // `stats`: null when metrics are off (the access log alone).
  observer(metrics* stats, logger& log, bool access_log)
      : stats_(stats), log_(log), access_log_(access_log) {}

  // It never refuses: the request hooks pass at once, without a coroutine.
  std::optional<filter_status> try_http(http_context&) override { return filter_status::next; }
  std::optional<filter_status> try_request(message_context&) override {
    return filter_status::next;
  }
  void on_response(response_context& ctx) override;
  void on_complete(const request_record& record) override;

 private:
  metrics* stats_;
  logger& log_;
  bool access_log_;
};

}  // namespace mcpgw
