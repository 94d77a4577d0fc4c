// Settings of the rate_limit filter: rules that match calls by tenant, principal, route,
// backend, method and tool, and count them per a key in a token bucket (limit per window,
// with burst) or by how many are in flight. Parsed once from `filters: [{ rate_limit: ... }]`.
#pragma once

#include "rate_limit/token_bucket.h"

#include "mcpgw/filter.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::plugins::rate_limit {

// Globs; empty: any.
struct match_rule {
  std::string tenant;
  std::string principal;
  std::string route;
  std::string backend;
  std::string method;
  std::string tool;
};

// What a rule counts per: one bucket (or in-flight count) for each distinct value.
enum class key_kind : std::uint8_t { tenant, principal, session, route, backend, tool, global };
std::string_view to_string(key_kind key);

struct rule_config {
  int line = 0;
  std::string name;  // "rules[1]"
  match_rule match;
  key_kind key = key_kind::tenant;
  std::optional<bucket_rule> rate;
  std::size_t concurrency = 0;  // in-flight calls; 0: no such limit
  std::string per_text;         // "1m", as written, for messages
  // Rules that match on method or tool count calls (a JSON-RPC error when refused); the others
  // count HTTP requests (429).
  bool counts_calls() const { return !match.method.empty() || !match.tool.empty() || concurrency; }
};

struct rate_limit_config {
  std::vector<rule_config> rules;
};

std::shared_ptr<const filter_factory> parse_rate_limit(config_detail::parser& p,
                                                       const config_detail::field& at);

}  // namespace mcpgw::plugins::rate_limit
