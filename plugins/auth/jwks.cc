#include "auth/jwks.h"

#include "auth/base64url.h"
#include "auth/jwt_detail.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <simdjson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mcpgw::auth {

using namespace jwt_detail;

namespace {

using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, free_with<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, free_with<OSSL_PARAM_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, free_with<EVP_PKEY_CTX_free>>;

// ---- JWKS --------------------------------------------------------------------------------

enum class key_outcome { usable, skipped, invalid };

struct parsed_key {
  key_outcome outcome = key_outcome::invalid;
  std::string message;  // why skipped or invalid
  jwk key;
};

// A required base64url string member of a JWK; on failure sets `error` ("keys[1].n: ...").
std::optional<std::string> base64url_member(object obj, std::string_view name,
                                            const std::string& where, std::string& error) {
  std::string_view text;
  switch (string_member(obj, name, text)) {
    case member_status::absent:
      error = where + "." + std::string(name) + ": missing";
      return std::nullopt;
    case member_status::wrong_type:
      error = where + "." + std::string(name) + ": not a string";
      return std::nullopt;
    case member_status::present:
      break;
  }
  auto decoded = base64url_decode(text);
  if (!decoded) {
    error = where + "." + std::string(name) + ": not base64url";
  }
  return decoded;
}

std::shared_ptr<EVP_PKEY> key_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  params_ptr params(OSSL_PARAM_BLD_to_param(bld));
  pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return nullptr;
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
  // fromdata stores what it is given; the check refuses e.g. an even modulus or a point off the
  // curve before the key is ever used.
  pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return nullptr;
  }
  return key;
}

void parse_rsa(object obj, const std::string& where, parsed_key& out) {
  auto n = base64url_member(obj, "n", where, out.message);
  if (!n) {
    return;
  }
  auto e = base64url_member(obj, "e", where, out.message);
  if (!e) {
    return;
  }
  // Size checks before building the key, so that a hostile JWKS cannot make us do big-number
  // work on megabyte moduli.
  if (n->size() > static_cast<std::size_t>(max_rsa_bits / 8) + 1) {
    out.message = where + ".n: RSA modulus above " + std::to_string(max_rsa_bits) + " bits";
    return;
  }
  if (e->empty() || e->size() > 8) {
    out.message = where + ".e: RSA exponent must be 1 to 8 bytes";
    return;
  }
  bn_ptr bn_n(BN_bin2bn(bytes_of(*n), static_cast<int>(n->size()), nullptr));
  bn_ptr bn_e(BN_bin2bn(bytes_of(*e), static_cast<int>(e->size()), nullptr));
  param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    out.message = where + ": cannot build RSA key";
    return;
  }
  int bits = BN_num_bits(bn_n.get());
  if (bits < min_rsa_bits) {
    out.message = where + ".n: RSA key of " + std::to_string(bits) + " bits, at least " +
                  std::to_string(min_rsa_bits) + " required";
    return;
  }
  out.key.public_key = key_from_params("RSA", bld.get());
  if (!out.key.public_key) {
    out.message = where + ": not a valid RSA public key";
    return;
  }
  out.key.kind = jwk::type::rsa;
  out.key.bits = bits;
  out.outcome = key_outcome::usable;
}

void parse_ec(object obj, const std::string& where, parsed_key& out) {
  std::string_view crv;
  switch (string_member(obj, "crv", crv)) {
    case member_status::absent:
      out.message = where + ".crv: missing";
      return;
    case member_status::wrong_type:
      out.message = where + ".crv: not a string";
      return;
    case member_status::present:
      break;
  }
  if (crv != "P-256") {
    out.outcome = key_outcome::skipped;
    out.message = where + ": crv " + log_quote(crv) + " not supported";
    return;
  }
  auto x = base64url_member(obj, "x", where, out.message);
  if (!x) {
    return;
  }
  auto y = base64url_member(obj, "y", where, out.message);
  if (!y) {
    return;
  }
  // RFC 7518 §6.2.1.2: coordinates are the full field size, leading zeros kept.
  constexpr std::size_t coordinate_bytes = 32;
  if (x->size() != coordinate_bytes) {
    out.message = where + ".x: must be 32 bytes";
    return;
  }
  if (y->size() != coordinate_bytes) {
    out.message = where + ".y: must be 32 bytes";
    return;
  }
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    out.message = where + ": cannot build EC key";
    return;
  }
  out.key.public_key = key_from_params("EC", bld.get());
  if (!out.key.public_key) {
    out.message = where + ": not a point on P-256";
    return;
  }
  out.key.kind = jwk::type::ec_p256;
  out.key.bits = 256;
  out.outcome = key_outcome::usable;
}

void parse_oct(object obj, const std::string& where, parsed_key& out) {
  auto k = base64url_member(obj, "k", where, out.message);
  if (!k) {
    return;
  }
  if (k->size() < min_hmac_secret_bytes) {
    out.message = where + ".k: secret of " + std::to_string(k->size()) + " bytes, at least " +
                  std::to_string(min_hmac_secret_bytes) + " required";
    return;
  }
  out.key.kind = jwk::type::oct;
  out.key.bits = static_cast<int>(k->size() * 8);  // k is bounded by max_jwks_bytes
  out.key.secret = std::move(*k);
  out.outcome = key_outcome::usable;
}

parsed_key parse_key(element value, std::size_t index) {
  parsed_key out;
  const std::string where = "keys[" + std::to_string(index) + "]";
  object obj;
  if (value.get(obj) != simdjson::SUCCESS) {
    out.message = where + ": not an object";
    return out;
  }
  std::string_view kty;
  switch (string_member(obj, "kty", kty)) {
    case member_status::absent:
      out.message = where + ".kty: missing";
      return out;
    case member_status::wrong_type:
      out.message = where + ".kty: not a string";
      return out;
    case member_status::present:
      break;
  }
  std::string_view text;
  switch (string_member(obj, "use", text)) {
    case member_status::wrong_type:
      out.message = where + ".use: not a string";
      return out;
    case member_status::present:
      if (text != "sig") {
        out.outcome = key_outcome::skipped;
        out.message = where + ": use " + log_quote(text) + " is not sig";
        return out;
      }
      break;
    case member_status::absent:
      break;
  }
  element ops;
  if (obj.at_key("key_ops").get(ops) == simdjson::SUCCESS) {
    simdjson::dom::array list;
    if (ops.get(list) != simdjson::SUCCESS) {
      out.message = where + ".key_ops: not an array";
      return out;
    }
    bool verifies = false;
    for (element op : list) {
      std::string_view name;
      if (op.get(name) != simdjson::SUCCESS) {
        out.message = where + ".key_ops: not an array of strings";
        return out;
      }
      verifies = verifies || name == "verify";
    }
    if (!verifies) {
      out.outcome = key_outcome::skipped;
      out.message = where + ": key_ops lacks verify";
      return out;
    }
  }
  switch (string_member(obj, "kid", text)) {
    case member_status::wrong_type:
      out.message = where + ".kid: not a string";
      return out;
    case member_status::present:
      out.key.kid = std::string(text);
      break;
    case member_status::absent:
      break;
  }
  switch (string_member(obj, "alg", text)) {
    case member_status::wrong_type:
      out.message = where + ".alg: not a string";
      return out;
    case member_status::present:
      out.key.alg = std::string(text);
      break;
    case member_status::absent:
      break;
  }
  if (kty == "RSA") {
    parse_rsa(obj, where, out);
  } else if (kty == "EC") {
    parse_ec(obj, where, out);
  } else if (kty == "oct") {
    parse_oct(obj, where, out);
  } else {
    out.outcome = key_outcome::skipped;
    out.message = where + ": kty " + log_quote(kty) + " not supported";
  }
  return out;
}

}  // namespace

// ---- public ------------------------------------------------------------------------------

jwks_result parse_jwks(std::string_view json) {
  openssl_error_scope openssl_errors;
  jwks_result result;
  if (json.size() > max_jwks_bytes) {
    result.error = "jwks: larger than " + std::to_string(max_jwks_bytes) + " bytes";
    return result;
  }
  simdjson::dom::parser parser;
  object root;
  if (auto error = parse_object(parser, json, "jwks", root); !error.empty()) {
    result.error = std::move(error);
    return result;
  }
  element keys_value;
  if (root.at_key("keys").get(keys_value) != simdjson::SUCCESS) {
    result.error = "keys: missing";
    return result;
  }
  simdjson::dom::array keys;
  if (keys_value.get(keys) != simdjson::SUCCESS) {
    result.error = "keys: not an array";
    return result;
  }
  auto set = std::make_shared<jwk_set>();
  std::size_t index = 0;
  for (element value : keys) {
    parsed_key parsed = parse_key(value, index++);
    switch (parsed.outcome) {
      case key_outcome::usable:
        set->keys.push_back(std::move(parsed.key));
        break;
      case key_outcome::skipped:
        result.skipped.push_back(std::move(parsed.message));
        break;
      case key_outcome::invalid:
        result.error = std::move(parsed.message);
        return result;
    }
  }
  if (set->keys.empty()) {
    result.error = "keys: no usable key (" + std::to_string(result.skipped.size()) + " skipped)";
    return result;
  }
  result.keys = std::move(set);
  return result;
}

}  // namespace mcpgw::auth
