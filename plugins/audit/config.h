// Settings of the audit filter: where records go (a file, stdout), how durable they are
// (fsync every N records or T), the queue bound and what happens when it is full, rotation,
// and what of the arguments is redacted. Parsed once from `filters: [{ audit: { ... } }]`.
#pragma once

#include "audit/audit_log.h"
#include "audit/redact.h"

#include "mcpgw/filter.h"

#include <memory>

namespace mcpgw::plugins::audit {

enum class when_full : std::uint8_t { wait, reject };

struct audit_config {
  log_settings log;
  redaction_rules redaction;
  when_full on_full = when_full::wait;
  duration max_wait = std::chrono::seconds(5);  // wait: then the request is refused after all
};

std::shared_ptr<const filter_factory> parse_audit(config_detail::parser& p,
                                                  const config_detail::field& at);

}  // namespace mcpgw::plugins::audit
