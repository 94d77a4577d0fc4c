#include "builtin.h"

#include "audit/config.h"
#include "auth/config.h"
#include "circuit_breaker/config.h"
#include "method_filter/config.h"
#include "rate_limit/config.h"

namespace mcpgw::plugins {

void register_builtin_filters(filter_registry& registry) {
  registry.add("auth", parse_auth);
  registry.add("audit", audit::parse_audit);
  registry.add("circuit_breaker", circuit_breaker::parse_circuit_breaker);
  registry.add("method_filter", parse_method_filter);
  registry.add("rate_limit", rate_limit::parse_rate_limit);
}

}  // namespace mcpgw::plugins
