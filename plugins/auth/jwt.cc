#include "auth/jwt.h"

#include "auth/jwt_detail.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcpgw::auth {

using namespace jwt_detail;

namespace {

using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, free_with<EVP_MD_CTX_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, free_with<ECDSA_SIG_free>>;

// ---- JWS ---------------------------------------------------------------------------------

enum class algorithm { hs256, rs256, es256 };

std::optional<algorithm> implemented_algorithm(std::string_view name) {
  if (name == "HS256") {
    return algorithm::hs256;
  }
  if (name == "RS256") {
    return algorithm::rs256;
  }
  if (name == "ES256") {
    return algorithm::es256;
  }
  return std::nullopt;
}

// The heart of the key-confusion defence: an alg is only ever checked with one key type, so a
// public key can never be used as an HMAC secret.
bool fits(jwk::type kind, algorithm alg) {
  switch (alg) {
    case algorithm::hs256:
      return kind == jwk::type::oct;
    case algorithm::rs256:
      return kind == jwk::type::rsa;
    case algorithm::es256:
      return kind == jwk::type::ec_p256;
  }
  return false;
}

std::string_view type_name(jwk::type kind) {
  switch (kind) {
    case jwk::type::rsa:
      return "RSA";
    case jwk::type::ec_p256:
      return "EC P-256";
    case jwk::type::oct:
      return "oct";
  }
  return "?";
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) {
             return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
           };
           return lower(x) == lower(y);
         });
}

bool verify_hs256(const jwk& key, std::string_view input, std::string_view signature) {
  constexpr std::size_t mac_bytes = 32;
  if (signature.size() != mac_bytes) {
    return false;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t mac_length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.secret.data(), key.secret.size(),
                bytes_of(input), input.size(), mac.data(), mac.size(), &mac_length) == nullptr ||
      mac_length != mac_bytes) {
    return false;
  }
  // Constant time: a byte-by-byte early exit would let an attacker find the MAC one byte at a
  // time.
  return CRYPTO_memcmp(mac.data(), signature.data(), mac_bytes) == 0;
}

bool digest_verify(EVP_PKEY* key, algorithm alg, std::string_view input,
                   const unsigned char* signature, std::size_t signature_length) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  // PKCS#1 v1.5 is the default today; setting it keeps a change of default from quietly turning
  // RS256 into PSS.
  if (alg == algorithm::rs256 && EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), signature, signature_length, bytes_of(input), input.size()) ==
         1;
}

bool verify_rs256(const jwk& key, std::string_view input, std::string_view signature) {
  // RFC 8017 §8.2.2: the signature is exactly the modulus size, else a dropped leading zero
  // would give a second encoding. OpenSSL's RSA_verify checks this too; the rule is stated here
  // so that it does not depend on the provider.
  if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.public_key.get()))) {
    return false;
  }
  return digest_verify(key.public_key.get(), algorithm::rs256, input, bytes_of(signature),
                       signature.size());
}

bool verify_es256(const jwk& key, std::string_view input, std::string_view signature) {
  // RFC 7518 §3.4: JWS carries R||S, each 32 bytes; OpenSSL wants a DER ECDSA-Sig-Value.
  constexpr int half = 32;
  if (signature.size() != 2 * half) {
    return false;
  }
  ecdsa_sig_ptr sig(ECDSA_SIG_new());
  bn_ptr r(BN_bin2bn(bytes_of(signature), half, nullptr));
  bn_ptr s(BN_bin2bn(bytes_of(signature) + half, half, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return false;
  }
  r.release();  // now owned by sig
  s.release();
  std::array<unsigned char, 80> der{};  // at most 2 + 2 * (2 + 33) = 72 bytes
  int der_length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (der_length <= 0 || static_cast<std::size_t>(der_length) > der.size()) {
    return false;
  }
  unsigned char* cursor = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &cursor) != der_length) {
    return false;
  }
  return digest_verify(key.public_key.get(), algorithm::es256, input, der.data(),
                       static_cast<std::size_t>(der_length));
}

bool verify_signature(const jwk& key, algorithm alg, std::string_view input,
                      std::string_view signature) {
  switch (alg) {
    case algorithm::hs256:
      return verify_hs256(key, input, signature);
    case algorithm::rs256:
      return verify_rs256(key, input, signature);
    case algorithm::es256:
      return verify_es256(key, input, signature);
  }
  return false;
}

struct jose_header {
  std::string alg;
  std::optional<std::string> kid;
};

std::string parse_header(simdjson::dom::parser& parser, std::string_view text, jose_header& out) {
  object obj;
  if (auto error = parse_object(parser, text, "header", obj); !error.empty()) {
    return error;
  }
  std::string_view value;
  switch (string_member(obj, "alg", value)) {
    case member_status::absent:
      return "header.alg: missing";
    case member_status::wrong_type:
      return "header.alg: not a string";
    case member_status::present:
      out.alg = std::string(value);
      break;
  }
  switch (string_member(obj, "kid", value)) {
    case member_status::wrong_type:
      return "header.kid: not a string";
    case member_status::present:
      out.kid = std::string(value);
      break;
    case member_status::absent:
      break;
  }
  // RFC 7515 §4.1.11: a recipient that does not understand a critical extension (b64=false,
  // for one, changes what is signed) must reject the token.
  element ignored;
  if (obj.at_key("crit").get(ignored) == simdjson::SUCCESS) {
    return "header.crit: critical extensions are not supported";
  }
  return {};
}

struct key_selection {
  std::vector<const jwk*> candidates;  // to try in order; empty when error is set
  jwt_error error = jwt_error::none;
  std::string detail;
};

// By kid when the header names one, else every key of the alg's type; a selected key is a
// candidate only if its type fits the alg and its JWK alg, when set, is the header's.
key_selection select_keys(const jwk_set& keys, const jose_header& header, algorithm alg) {
  key_selection out;
  bool any_selected = false;
  const jwk* mismatched = nullptr;
  for (const jwk& key : keys.keys) {
    bool selected = header.kid ? key.kid == *header.kid : fits(key.kind, alg);
    if (!selected) {
      continue;
    }
    any_selected = true;
    if (fits(key.kind, alg) && (key.alg.empty() || key.alg == header.alg)) {
      out.candidates.push_back(&key);
    } else if (mismatched == nullptr) {
      mismatched = &key;
    }
  }
  if (!any_selected) {
    out.error = jwt_error::unknown_key;
    out.detail =
        header.kid ? "no key with kid " + log_quote(*header.kid) : "no key for alg " + header.alg;
  } else if (out.candidates.empty()) {
    out.error = jwt_error::key_mismatch;
    std::string which = mismatched->kid.empty() ? "key" : "key " + log_quote(mismatched->kid);
    out.detail = fits(mismatched->kind, alg)
                     ? which + " is for alg " + log_quote(mismatched->alg) + ", not " + header.alg
                     : which + " is " + std::string(type_name(mismatched->kind)) + ", alg " +
                           header.alg + " needs another type";
  }
  return out;
}

// ---- claims ------------------------------------------------------------------------------

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  constexpr auto min = std::numeric_limits<std::int64_t>::min();
  if (b > 0 && a > max - b) {
    return max;
  }
  if (b < 0 && a < min - b) {
    return min;
  }
  return a + b;
}

// NumericDate may be fractional (RFC 7519 §2); each claim rounds toward rejection.
enum class rounding { down, up };

// Reads a NumericDate claim; returns a malformed detail when it is not a number.
std::string numeric_date(object payload, std::string_view name, rounding round,
                         std::optional<std::int64_t>& out) {
  element value;
  if (payload.at_key(name).get(value) != simdjson::SUCCESS) {
    return {};
  }
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  switch (value.type()) {
    case element_type::INT64:
      out = value.get_int64().value_unsafe();
      return {};
    case element_type::UINT64:
      out = max;  // only above INT64_MAX does simdjson report UINT64
      return {};
    case element_type::DOUBLE: {
      double d = value.get_double().value_unsafe();
      d = round == rounding::down ? std::floor(d) : std::ceil(d);
      if (!std::isfinite(d)) {
        return "payload." + std::string(name) + ": not a finite number";
      }
      // 2^63 as a double; anything at or past it saturates.
      constexpr double limit = 9223372036854775808.0;
      if (d >= limit) {
        out = max;
      } else if (d < -limit) {
        out = std::numeric_limits<std::int64_t>::min();
      } else {
        out = static_cast<std::int64_t>(d);
      }
      return {};
    }
    default:
      return "payload." + std::string(name) + ": not a number";
  }
}

std::string_view without_trailing_slash(std::string_view s) {
  if (!s.empty() && s.back() == '/') {
    s.remove_suffix(1);
  }
  return s;
}

bool audience_accepted(std::string_view aud, const std::vector<std::string>& accepted) {
  return std::any_of(accepted.begin(), accepted.end(), [&](const std::string& a) {
    return without_trailing_slash(a) == without_trailing_slash(aud);
  });
}

void split_scopes(std::string_view text, std::vector<std::string>& out) {
  while (!text.empty()) {
    auto space = text.find(' ');
    auto token = text.substr(0, space);
    if (!token.empty()) {
      out.emplace_back(token);
    }
    if (space == std::string_view::npos) {
      break;
    }
    text.remove_prefix(space + 1);
  }
}

struct claim_failure {
  jwt_error error = jwt_error::none;
  std::string detail;
};

claim_failure check_claims(object payload, const jwt_rules& rules, std::int64_t now,
                           jwt_claims& claims) {
  const std::int64_t leeway = static_cast<std::int64_t>(rules.leeway.count());
  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> nbf;
  std::optional<std::int64_t> iat;
  if (auto e = numeric_date(payload, "exp", rounding::down, exp); !e.empty()) {
    return {jwt_error::malformed, std::move(e)};
  }
  if (auto e = numeric_date(payload, "nbf", rounding::up, nbf); !e.empty()) {
    return {jwt_error::malformed, std::move(e)};
  }
  if (auto e = numeric_date(payload, "iat", rounding::up, iat); !e.empty()) {
    return {jwt_error::malformed, std::move(e)};
  }
  if (!exp && rules.require_exp) {
    return {jwt_error::missing_claim, "claim exp: missing"};
  }
  if (exp && now > saturating_add(*exp, leeway)) {
    return {jwt_error::expired, "expired at " + std::to_string(*exp) + ", now " +
                                    std::to_string(now) + ", leeway " + std::to_string(leeway) +
                                    "s"};
  }
  if (nbf && saturating_add(now, leeway) < *nbf) {
    return {jwt_error::not_yet_valid, "not before " + std::to_string(*nbf) + ", now " +
                                          std::to_string(now) + ", leeway " +
                                          std::to_string(leeway) + "s"};
  }
  if (iat && saturating_add(now, leeway) < *iat) {
    return {jwt_error::not_yet_valid, "issued in the future at " + std::to_string(*iat) + ", now " +
                                          std::to_string(now) + ", leeway " +
                                          std::to_string(leeway) + "s"};
  }
  claims.expires_at = exp.value_or(0);

  std::string_view text;
  switch (string_member(payload, "iss", text)) {
    case member_status::wrong_type:
      return {jwt_error::malformed, "payload.iss: not a string"};
    case member_status::present:
      claims.issuer = std::string(text);
      break;
    case member_status::absent:
      if (!rules.issuer.empty()) {
        return {jwt_error::missing_claim, "claim iss: missing"};
      }
      break;
  }
  if (!rules.issuer.empty() && claims.issuer != rules.issuer) {
    return {jwt_error::wrong_issuer,
            "issuer " + log_quote(claims.issuer) + " is not " + log_quote(rules.issuer)};
  }

  if (!rules.audiences.empty()) {
    element aud;
    if (payload.at_key("aud").get(aud) != simdjson::SUCCESS) {
      return {jwt_error::missing_claim, "claim aud: missing"};
    }
    bool matched = false;
    simdjson::dom::array list;
    if (aud.get(text) == simdjson::SUCCESS) {
      matched = audience_accepted(text, rules.audiences);
    } else if (aud.get(list) == simdjson::SUCCESS) {
      for (element item : list) {
        if (item.get(text) != simdjson::SUCCESS) {
          return {jwt_error::malformed, "payload.aud: not an array of strings"};
        }
        matched = matched || audience_accepted(text, rules.audiences);
      }
    } else {
      return {jwt_error::malformed, "payload.aud: not a string or array"};
    }
    if (!matched) {
      return {jwt_error::wrong_audience, "no audience matches " + log_quote(rules.audiences[0]) +
                                             (rules.audiences.size() > 1 ? " or the others" : "")};
    }
  }

  switch (string_member(payload, "sub", text)) {
    case member_status::wrong_type:
      return {jwt_error::malformed, "payload.sub: not a string"};
    case member_status::present:
      claims.subject = std::string(text);
      break;
    case member_status::absent:
      break;
  }

  // "scope" is RFC 9068's (space-separated); "scp" is the Azure AD / Okta form.
  switch (string_member(payload, "scope", text)) {
    case member_status::wrong_type:
      return {jwt_error::malformed, "payload.scope: not a string"};
    case member_status::present:
      split_scopes(text, claims.scopes);
      break;
    case member_status::absent: {
      element scp;
      if (payload.at_key("scp").get(scp) != simdjson::SUCCESS) {
        break;
      }
      simdjson::dom::array list;
      if (scp.get(text) == simdjson::SUCCESS) {
        split_scopes(text, claims.scopes);
      } else if (scp.get(list) == simdjson::SUCCESS) {
        for (element item : list) {
          if (item.get(text) != simdjson::SUCCESS) {
            return {jwt_error::malformed, "payload.scp: not an array of strings"};
          }
          claims.scopes.emplace_back(text);
        }
      } else {
        return {jwt_error::malformed, "payload.scp: not a string or array"};
      }
      break;
    }
  }

  if (!rules.tenant_claim.empty()) {
    // An empty tenant would silently share the "no tenant" bucket, so it counts as missing.
    if (string_member(payload, rules.tenant_claim, text) != member_status::present ||
        text.empty()) {
      return {jwt_error::missing_claim,
              "claim " + log_quote(rules.tenant_claim) + ": missing or not a non-empty string"};
    }
    claims.tenant = std::string(text);
  }
  return {};
}

}  // namespace

// ---- public ------------------------------------------------------------------------------

std::string_view to_string(jwt_error error) {
  switch (error) {
    case jwt_error::none:
      return "none";
    case jwt_error::malformed:
      return "malformed";
    case jwt_error::unsupported_algorithm:
      return "unsupported_algorithm";
    case jwt_error::unknown_key:
      return "unknown_key";
    case jwt_error::key_mismatch:
      return "key_mismatch";
    case jwt_error::bad_signature:
      return "bad_signature";
    case jwt_error::expired:
      return "expired";
    case jwt_error::not_yet_valid:
      return "not_yet_valid";
    case jwt_error::wrong_issuer:
      return "wrong_issuer";
    case jwt_error::wrong_audience:
      return "wrong_audience";
    case jwt_error::missing_claim:
      return "missing_claim";
  }
  return "unknown";
}

jwt_result verify_jwt(std::string_view token, const jwk_set& keys, const jwt_rules& rules,
                      std::int64_t now) {
  openssl_error_scope openssl_errors;
  jwt_result result;
  auto fail = [&result](jwt_error error, std::string detail) {
    result.error = error;
    result.detail = std::move(detail);
    return result;
  };

  if (token.size() > max_token_bytes) {
    return fail(jwt_error::malformed,
                "token: longer than " + std::to_string(max_token_bytes) + " bytes");
  }
  auto first_dot = token.find('.');
  auto second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return fail(jwt_error::malformed, "token: not three dot-separated segments");
  }
  auto header_text = base64url_decode(token.substr(0, first_dot));
  if (!header_text) {
    return fail(jwt_error::malformed, "header: not base64url");
  }
  auto payload_text = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  if (!payload_text) {
    return fail(jwt_error::malformed, "payload: not base64url");
  }
  auto signature = base64url_decode(token.substr(second_dot + 1));
  if (!signature) {
    return fail(jwt_error::malformed, "signature: not base64url");
  }

  simdjson::dom::parser parser;
  jose_header header;
  if (auto error = parse_header(parser, *header_text, header); !error.empty()) {
    return fail(jwt_error::malformed, std::move(error));
  }

  // "none" is refused even when configured: an unsigned token proves nothing.
  if (equals_ignoring_case(header.alg, "none")) {
    return fail(jwt_error::unsupported_algorithm, "alg 'none' is never accepted");
  }
  if (std::find(rules.algorithms.begin(), rules.algorithms.end(), header.alg) ==
      rules.algorithms.end()) {
    return fail(jwt_error::unsupported_algorithm, "alg " + log_quote(header.alg) + " not accepted");
  }
  auto alg = implemented_algorithm(header.alg);
  if (!alg) {
    return fail(jwt_error::unsupported_algorithm,
                "alg " + log_quote(header.alg) + " not implemented");
  }

  auto selection = select_keys(keys, header, *alg);
  if (selection.error != jwt_error::none) {
    return fail(selection.error, std::move(selection.detail));
  }
  const std::vector<const jwk*>& candidates = selection.candidates;

  const std::string_view signing_input = token.substr(0, second_dot);
  const jwk* verified_by = nullptr;
  for (const jwk* key : candidates) {
    if (verify_signature(*key, *alg, signing_input, *signature)) {
      verified_by = key;
      break;
    }
  }
  if (verified_by == nullptr) {
    return fail(jwt_error::bad_signature,
                "signature does not verify (" + std::to_string(candidates.size()) + " " +
                    header.alg + " key" + (candidates.size() == 1 ? "" : "s") + " tried)");
  }

  // Only now is the payload worth parsing: it is authentic.
  object payload;
  if (auto error = parse_object(parser, *payload_text, "payload", payload); !error.empty()) {
    return fail(jwt_error::malformed, std::move(error));
  }
  jwt_claims claims;
  claims.key_id = verified_by->kid;
  if (auto failure = check_claims(payload, rules, now, claims); failure.error != jwt_error::none) {
    return fail(failure.error, std::move(failure.detail));
  }
  result.claims = std::move(claims);
  return result;
}

}  // namespace mcpgw::auth
