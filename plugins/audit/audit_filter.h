// The audit filter: one sealed JSON line per client request (at its completion, whatever
// happened to it) and per client notification, with who, where, what, the redacted arguments
// and their digest, the outcome, latency and bytes. Placed anywhere in the chain, it records
// requests stopped by earlier filters too.
#pragma once

#include "audit/audit_log.h"
#include "audit/config.h"

#include "mcpgw/filter.h"
#include "mcpgw/metrics.h"

#include <memory>
#include <string>

namespace mcpgw::plugins::audit {

class audit_filter final : public filter {
 public:
  // `shared_key`: what the workers' filters of one configured audit filter find their shared
  // log under (services.shared).
  audit_filter(audit_config config, const filter_services& services,
               const void* shared_key = nullptr);

  // No HTTP hook: said at once, or the chain would start the default one's coroutine.
  std::optional<filter_status> try_http(http_context&) override { return filter_status::next; }
  net::awaitable<filter_status> on_request(message_context& ctx) override;
  // At once unless the queue is full and on_full is wait.
  std::optional<filter_status> try_request(message_context& ctx) override;
  void on_complete(const request_record& record) override;

  audit_log& log() { return *log_; }
  struct counters {
    std::uint64_t waited = 0;    // requests that waited for room in the queue
    std::uint64_t rejected = 0;  // requests refused because the queue stayed full
  };
  const counters& stats() const { return stats_; }

  // The record's fields (the inside of its JSON object, before sealing).
  static std::string format(const request_record& record, std::string_view arguments,
                            std::string_view digest);
  // The same, appended to `out`.
  static void format_into(std::string& out, const request_record& record,
                          std::string_view arguments, std::string_view digest);

 private:
  // mcpgw_audit_records_written_total, mcpgw_audit_write_failures_total, mcpgw_audit_queue_depth.
  void count_into(metrics& m);
  // The 503 of a full queue.
  filter_status refuse_full(message_context& ctx);
  // Keeps what the record needs (a notification's record is written now).
  filter_status note(message_context& ctx);

  audit_config config_;
  net::any_io_executor executor_;
  std::shared_ptr<audit_log> log_;  // shared by the workers' filters
  counters stats_;
  std::string scratch_;  // the record being formatted, reused (the hooks run on one thread)
};

}  // namespace mcpgw::plugins::audit
