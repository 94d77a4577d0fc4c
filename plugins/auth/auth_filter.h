// The auth filter: authenticates every HTTP request on an MCP route (API keys, JWT bearer
// tokens), enforces each tenant's policy on calls and lists, and serves the OAuth 2.1
// protected resource metadata (RFC 9728) that tells clients where to get tokens.
#pragma once

#include "auth/api_keys.h"
#include "auth/config.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"

#include "mcpgw/filter.h"
#include "mcpgw/metrics.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace mcpgw::plugins {

class auth_filter final : public filter {
 public:
  auth_filter(auth_config config, const gateway_config& gateway, logger& log,
              net::any_io_executor ex);

  net::awaitable<filter_status> on_http(http_context& ctx) override;
  net::awaitable<filter_status> on_request(message_context& ctx) override;
  // Both decide at once (keys and tokens are checked against what is loaded).
  std::optional<filter_status> try_http(http_context& ctx) override { return authenticate(ctx); }
  std::optional<filter_status> try_request(message_context& ctx) override {
    return check_request(ctx);
  }
  void on_response(response_context& ctx) override;
  std::vector<endpoint> endpoints() const override;
  void start() override;
  void stop() override;

  // Seconds since the Unix epoch; tests replace it to move time.
  void set_clock(std::function<std::int64_t()> now) { now_ = std::move(now); }

  // The whole decision for one request's headers, without I/O (what on_http runs).
  // The tenant policy on one message (tools, prompts, resources, scopes).
  filter_status check_request(message_context& ctx);
  filter_status authenticate(http_context& ctx) const;

  struct counters {
    std::uint64_t authenticated = 0;
    std::uint64_t unauthenticated = 0;  // 400/401
    std::uint64_t forbidden = 0;        // 403 and policy denials
    std::uint64_t lists_filtered = 0;
  };
  const counters& stats() const { return stats_; }
  const auth::credential_cache& cache() const { return cache_; }
  // Exposes the credential cache's hits, misses and size on each scrape.
  void count_into(metrics& m);

 private:
  const tenant_policy* policy_of(const principal& who) const;
  // The metadata URL of a route's resource: origin + /.well-known/oauth-protected-resource + path.
  std::string metadata_url(std::string_view route) const;
  filter_status challenge(http_context& ctx, unsigned status, std::string_view error,
                          std::string_view description) const;
  // Verifies a token against `keys` (null: not fetched yet, 503) and fills ctx.who;
  // `not_after` is the last second the token stays valid.
  filter_status verify_token(http_context& ctx, std::string_view token, const auth::jwk_set* keys,
                             std::int64_t now, std::int64_t& not_after) const;
  // The token rules of a route: its audiences are the resource and the route's own URL.
  const auth::jwt_rules& rules_for(std::string_view route) const;

  auth_config config_;
  const gateway_config& gateway_;
  logger& log_;
  api_key_store keys_;
  std::map<std::string, tenant_policy, std::less<>> policies_;
  std::shared_ptr<jwks_source> jwks_;
  std::map<std::string, auth::jwt_rules, std::less<>> route_rules_;
  std::function<std::int64_t()> now_;
  mutable counters stats_;
  // Credentials verified before; authenticate() is const to the chain, the cache is not.
  mutable auth::credential_cache cache_;
  // The issuer's key set the cached tokens were verified with, and the one tokens are verified
  // with: taken from the source when it changes.
  mutable std::shared_ptr<const auth::jwk_set> cache_keys_;
};

}  // namespace mcpgw::plugins
