// Parses an issuer's JSON Web Key Set into immutable keys that verify_jwt (jwt.h) checks tokens
// against; called by config.cc for jwks_file and by jwks_source.cc for jwks_url.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::auth {

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

}  // namespace mcpgw::auth
