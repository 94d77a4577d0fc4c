// Sans-I/O verification of OAuth 2.1 bearer tokens (JWS compact JWTs), the gateway being an MCP
// resource server: auth_filter.cc calls verify_jwt per request with keys parsed by jwks.h.
#pragma once

#include "auth/base64url.h"
#include "auth/jwks.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::auth {

// Longer tokens are rejected before any decoding: a bearer token is attacker-sized input.
inline constexpr std::size_t max_token_bytes = 16 * 1024;

struct jwt_rules {
  std::string issuer;  // required exact match of "iss" (empty: not checked)
  // "aud" (string or array) must contain one of these (empty: not checked). Compared exactly,
  // except that one trailing '/' on either side is ignored.
  std::vector<std::string> audiences;
  std::chrono::seconds leeway{60};  // clock skew allowed on exp and nbf (and iat in the future)
  // Accepted "alg" values; only HS256, RS256 and ES256 are implemented, "none" never is.
  std::vector<std::string> algorithms{"HS256", "RS256", "ES256"};
  std::string tenant_claim;  // top-level claim naming the tenant (a non-empty string); empty: none
  bool require_exp = true;
};

enum class jwt_error {
  none,
  malformed,              // not a JWS compact JWT, or a claim of the wrong type
  unsupported_algorithm,  // alg none, not implemented, or not in rules.algorithms
  unknown_key,            // no key with the token's kid, or none of the alg's type
  key_mismatch,           // the selected key is not of the alg's type, or its JWK alg differs
  bad_signature,
  expired,
  not_yet_valid,  // nbf, or iat in the future (beyond leeway)
  wrong_issuer,
  wrong_audience,
  missing_claim,  // exp (when required), iss/aud (when checked), the tenant claim
};

struct jwt_claims {
  std::string subject;  // "sub"; may be empty
  std::string issuer;   // "iss"
  std::string tenant;   // the rules.tenant_claim value; empty when no tenant claim is configured
  std::vector<std::string> scopes;  // "scope" (space-separated) or "scp" (array or string)
  std::int64_t expires_at = 0;      // "exp" in Unix seconds; 0 when absent
  std::string key_id;               // kid of the JWK that verified the signature
};

struct jwt_result {
  jwt_error error = jwt_error::none;
  // Why, for logs: names parts and claims, may quote short values such as the issuer; never
  // contains the token, a signature or key material.
  std::string detail;
  jwt_claims claims;  // filled only when error == none
};

// Verifies signature first, then claims. `now` is in seconds since the Unix epoch (injected:
// tests move time instead of sleeping). Thread-safe; `keys` is only read.
jwt_result verify_jwt(std::string_view token, const jwk_set& keys, const jwt_rules& rules,
                      std::int64_t now);

std::string_view to_string(jwt_error error);  // "expired", "bad_signature", ...

}  // namespace mcpgw::auth
