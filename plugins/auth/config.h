// Settings of the auth filter: who the gateway is as an OAuth 2.1 resource server (its
// resource URL and authorization servers, RFC 9728), where API keys may come from, and how
// bearer tokens (JWTs) are checked. Parsed once from `filters: [{ auth: { ... } }]`.
#pragma once

#include "auth/credential_cache.h"
#include "auth/jwks_source.h"
#include "auth/jwt.h"

#include "mcpgw/filter.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::plugins {

struct jwt_settings {
  auth::jwt_rules rules;  // issuer, extra audiences, leeway, algorithms, tenant_claim
  std::string jwks_file;
  std::shared_ptr<const auth::jwk_set> keys;  // read at start-up, so --check-config sees it
  jwks_fetch_settings fetch;                  // fetch.url set: keys come from there instead
  int line = 0;
};

struct auth_config {
  // The gateway's public URL as clients use it (RFC 8707 resource, token audience); empty:
  // no protected resource metadata is served.
  std::string resource;
  std::string origin;  // scheme://host[:port] of `resource`
  std::vector<std::string> authorization_servers;
  // A header that may carry an API key besides `Authorization: Bearer` (e.g. X-Api-Key).
  std::string api_key_header;
  std::vector<std::string> scopes_supported;  // advertised; default: the scopes tenants require
  std::optional<jwt_settings> jwt;
  auth::credential_cache_settings cache;  // credentials verified before
  int line = 0;
};

std::shared_ptr<const filter_factory> parse_auth(config_detail::parser& p,
                                                 const config_detail::field& at);

}  // namespace mcpgw::plugins
