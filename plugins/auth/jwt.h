// Sans-I/O verification of OAuth 2.1 bearer tokens (JWS compact JWTs) for the gateway acting as
// an MCP resource server: the auth filter parses the issuer's JWKS once and calls verify_jwt per
// request; fetching the JWKS and reading the Authorization header happen elsewhere.
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::auth {

// Longer tokens are rejected before any decoding: a bearer token is attacker-sized input.
inline constexpr std::size_t max_token_bytes = 16 * 1024;
// A JWKS larger than this is refused; real ones are a few KiB.
inline constexpr std::size_t max_jwks_bytes = 1024 * 1024;
// RFC 7518 §3.2: an HS256 secret shorter than the hash output is refused.
inline constexpr std::size_t min_hmac_secret_bytes = 32;
inline constexpr int min_rsa_bits = 2048;
// Bounds the cost of one RS256 verification an attacker can make the gateway perform.
inline constexpr int max_rsa_bits = 16384;

// One signing key of a JWKS: kty RSA (n, e), EC (crv "P-256", x, y) or oct (k).
struct jwk {
  enum class type { rsa, ec_p256, oct };

  std::string kid;  // empty when the JWK has none
  std::string alg;  // empty when the JWK has none; otherwise tokens must carry exactly this alg
  type kind = type::oct;
  std::shared_ptr<EVP_PKEY> public_key;  // rsa and ec_p256; immutable, shareable across threads
  std::string secret;                    // oct: the raw secret bytes
  int bits = 0;                          // key size: RSA modulus, 256 for P-256, 8 * secret
};

struct jwk_set {
  std::vector<jwk> keys;
};

struct jwks_result {
  std::shared_ptr<const jwk_set> keys;  // null when error is set
  std::string error;                    // e.g. "keys[1].n: not base64url"
  std::vector<std::string> skipped;     // keys ignored on purpose, each with the reason
};

// Parses a JWKS document {"keys":[...]} (RFC 7517/7518). Keys whose "use" is not "sig" (or whose
// "key_ops" lacks "verify"), and unknown kty/crv, are skipped; a malformed or weak key is an
// error naming its index and field; a set with no usable key is an error.
jwks_result parse_jwks(std::string_view json);

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

// base64url without padding (RFC 4648 §5). Decoding rejects '=', bad characters, impossible
// lengths and non-zero trailing bits, so that each byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);

}  // namespace mcpgw::auth
