#include "observability/observer.h"

#include <cstdio>

namespace mcpgw {

void observer::on_response(response_context& ctx) {
  if (stats_ != nullptr && ctx.kind == jsonrpc::message_kind::result &&
      ctx.method == "tools/list") {
    stats_->declare_tools(ctx.backend, ctx.body);
  }
}

void observer::on_complete(const request_record& record) {
  if (stats_ != nullptr) {
    stats_->record(record);
  }
  if (!access_log_ || !log_.enabled(log_level::info)) {
    return;
  }
  auto millis = [](std::chrono::steady_clock::duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", std::chrono::duration<double, std::milli>(d).count());
    return std::string(text);
  };
  std::string code = record.error_code != 0 ? std::to_string(record.error_code) : std::string();
  log_.info("request", {{"request_id", record.request_id},
                        {"trace_id", record.trace_id},
                        {"span_id", record.span_id},
                        {"session", record.session_id},
                        {"tenant", record.who.tenant},
                        {"subject", record.who.subject},
                        {"route", record.route},
                        {"backend", record.backend},
                        {"method", record.method},
                        {"name", record.name},
                        {"outcome", to_string(record.outcome)},
                        {"code", code},
                        {"duration_ms", millis(record.elapsed)},
                        {"backend_ms", millis(record.backend_elapsed)}});
}

}  // namespace mcpgw
