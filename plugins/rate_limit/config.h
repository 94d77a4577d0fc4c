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

// Where rates are counted: in this process, or in Redis for every replica together.
enum class store_kind : std::uint8_t { local, redis };
// With store: redis, what a call gets while Redis cannot be asked: this process's own
// buckets (`local`), or a refusal (`deny`).
enum class store_error_policy : std::uint8_t { local, deny };

struct rate_limit_config {
  store_kind store = store_kind::local;
  store_error_policy on_store_error = store_error_policy::local;
  int store_line = 0;      // where `store: redis` was written, for the cross-check
  std::string store_path;  // "filters[1].rate_limit.store"
  std::vector<rule_config> rules;
};

std::shared_ptr<const filter_factory> parse_rate_limit(config_detail::parser& p,
                                                       const config_detail::field& at);

}  // namespace mcpgw::plugins::rate_limit
