#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

using namespace mcpgw::auth;

namespace {

constexpr std::int64_t now = 1'750'000'000;
constexpr std::string_view issuer = "https://as.example";
constexpr std::string_view audience = "https://mcp.example/mcp";

template <auto Free>
struct free_with {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, free_with<EVP_PKEY_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, free_with<EVP_MD_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, free_with<BN_free>>;
using bio_ptr = std::unique_ptr<BIO, free_with<BIO_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, free_with<ECDSA_SIG_free>>;

std::string b64(std::string_view bytes) { return base64url_encode(bytes); }

unsigned char* writable(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A big-endian public parameter of a key, left-padded to `width` bytes when width > 0.
std::string key_param(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    ADD_FAILURE() << "no key parameter " << name;
    return {};
  }
  bn_ptr bn(raw);
  int size = width > 0 ? width : BN_num_bytes(bn.get());
  std::string out(static_cast<std::size_t>(size), '\0');
  BN_bn2binpad(bn.get(), writable(out), size);
  return out;
}

std::string rsa_jwk(EVP_PKEY* key, std::string_view kid, std::string_view alg) {
  return R"({"kty":"RSA","use":"sig","kid":")" + std::string(kid) + R"(","alg":")" +
         std::string(alg) + R"(","n":")" + b64(key_param(key, OSSL_PKEY_PARAM_RSA_N)) +
         R"(","e":")" + b64(key_param(key, OSSL_PKEY_PARAM_RSA_E)) + R"("})";
}

std::string ec_jwk(EVP_PKEY* key, std::string_view kid) {
  return R"({"kty":"EC","crv":"P-256","kid":")" + std::string(kid) + R"(","x":")" +
         b64(key_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
         b64(key_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"("})";
}

std::string oct_jwk(std::string_view secret, std::string_view kid) {
  return R"({"kty":"oct","kid":")" + std::string(kid) + R"(","k":")" + b64(secret) + R"("})";
}

struct test_keys {
  pkey_ptr rsa;
  pkey_ptr ec;
  pkey_ptr ec2;
  pkey_ptr small_rsa;
  std::string secret = "0123456789abcdef0123456789abcdef-hmac";
  std::string jwks;
};

// Key generation is slow under the sanitizers, so every test shares one set.
const test_keys& keys() {
  static const test_keys k = [] {
    test_keys t;
    t.rsa.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)));
    t.ec.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    t.ec2.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    t.small_rsa.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)));
    // rsa-384 is the same public key restricted to another alg: the JWK alg must be honoured.
    t.jwks = R"({"keys":[)" + rsa_jwk(t.rsa.get(), "rsa-1", "RS256") + "," +
             rsa_jwk(t.rsa.get(), "rsa-384", "RS384") + "," + ec_jwk(t.ec.get(), "ec-1") + "," +
             ec_jwk(t.ec2.get(), "ec-2") + "," + oct_jwk(t.secret, "hmac-1") + "]}";
    return t;
  }();
  return k;
}

const jwk_set& key_set() {
  static const std::shared_ptr<const jwk_set> set = [] {
    auto parsed = parse_jwks(keys().jwks);
    EXPECT_EQ(parsed.error, "");
    return parsed.keys;
  }();
  return *set;
}

// ---- signing -----------------------------------------------------------------------------

std::string hmac_sha256(std::string_view secret, std::string_view input) {
  std::string mac(EVP_MAX_MD_SIZE, '\0');
  std::size_t length = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            bytes_of(input), input.size(), writable(mac), mac.size(), &length);
  mac.resize(length);
  return mac;
}

// RS256 signature, or the DER ECDSA-Sig-Value for an EC key.
std::string digest_sign(EVP_PKEY* key, std::string_view input) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  std::size_t length = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &length, bytes_of(input), input.size()), 1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), writable(signature), &length, bytes_of(input), input.size()),
            1);
  signature.resize(length);
  return signature;
}

// JWS ES256 wants R||S, 32 bytes each.
std::string der_to_raw(std::string_view der) {
  const unsigned char* cursor = bytes_of(der);
  ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), writable(raw), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), writable(raw) + 32, 32);
  return raw;
}

std::string header(std::string_view alg, std::string_view kid) {
  std::string out = R"({"typ":"JWT","alg":")" + std::string(alg) + "\"";
  if (!kid.empty()) {
    out += R"(,"kid":")" + std::string(kid) + "\"";
  }
  return out + "}";
}

std::string signing_input(std::string_view header_json, std::string_view payload_json) {
  return b64(header_json) + "." + b64(payload_json);
}

std::string with_signature(const std::string& input, std::string_view raw_signature) {
  return input + "." + b64(raw_signature);
}

std::string hs256(std::string_view payload, std::string_view kid = "hmac-1",
                  std::string_view secret = keys().secret) {
  std::string input = signing_input(header("HS256", kid), payload);
  return with_signature(input, hmac_sha256(secret, input));
}

std::string rs256(std::string_view payload, std::string_view kid = "rsa-1",
                  EVP_PKEY* key = keys().rsa.get()) {
  std::string input = signing_input(header("RS256", kid), payload);
  return with_signature(input, digest_sign(key, input));
}

std::string es256(std::string_view payload, std::string_view kid = "ec-1",
                  EVP_PKEY* key = keys().ec.get()) {
  std::string input = signing_input(header("ES256", kid), payload);
  return with_signature(input, der_to_raw(digest_sign(key, input)));
}

// Standard claims valid at `now`, plus `extra` members.
std::string claims(std::string_view extra = "") {
  std::string out = R"({"iss":")" + std::string(issuer) + R"(","aud":")" + std::string(audience) +
                    R"(","sub":"alice","exp":)" + std::to_string(now + 300);
  if (!extra.empty()) {
    out += "," + std::string(extra);
  }
  return out + "}";
}

// Claims without exp, for the tests that set their own.
std::string claims_without_exp(std::string_view extra) {
  return R"({"iss":")" + std::string(issuer) + R"(","aud":")" + std::string(audience) +
         R"(","sub":"alice",)" + std::string(extra) + "}";
}

jwt_rules rules() {
  jwt_rules r;
  r.issuer = std::string(issuer);
  r.audiences = {std::string(audience)};
  return r;
}

jwt_result verify(std::string_view token, const jwt_rules& r = rules()) {
  return verify_jwt(token, key_set(), r, now);
}

std::string segment(std::string_view token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = token.find('.', start) + 1;
  }
  return std::string(token.substr(start, token.find('.', start) - start));
}

}  // namespace

// ---- base64url ---------------------------------------------------------------------------

TEST(Base64url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64url, RoundTripsEveryByteValueAtEveryLengthModulo) {
  for (std::size_t length = 0; length < 70; ++length) {
    std::string bytes;
    for (std::size_t i = 0; i < length; ++i) {
      bytes += static_cast<char>((i * 37 + length) & 0xff);
    }
    auto decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded) << length;
    EXPECT_EQ(*decoded, bytes);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  EXPECT_EQ(base64url_decode(base64url_encode(all)), all);
}

TEST(Base64url, RejectsPaddingBadCharactersImpossibleLengthAndStrayBits) {
  EXPECT_FALSE(base64url_decode("Zg=="));    // padding
  EXPECT_FALSE(base64url_decode("Zm9v+A"));  // standard alphabet, not url
  EXPECT_FALSE(base64url_decode("Zm/v"));
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode("Z"));  // 4n+1 characters cannot encode whole bytes
  EXPECT_FALSE(base64url_decode("Zm9vY"));
  EXPECT_FALSE(base64url_decode("A"));  // even when the lone character's bits are all zero
  EXPECT_FALSE(base64url_decode("Zm9vA"));
  EXPECT_FALSE(base64url_decode("Zh"));   // same byte as "Zg" with non-zero trailing bits
  EXPECT_FALSE(base64url_decode("Zm9"));  // same bytes as "Zm8" with non-zero trailing bits
  EXPECT_EQ(base64url_decode("Zg"), "f");
  EXPECT_EQ(base64url_decode(""), "");
}

// ---- parse_jwks --------------------------------------------------------------------------

TEST(Jwks, ParsesRsaEcAndOctKeysWithKidAndAlg) {
  auto parsed = parse_jwks(keys().jwks);
  ASSERT_EQ(parsed.error, "");
  ASSERT_TRUE(parsed.keys);
  ASSERT_EQ(parsed.keys->keys.size(), 5u);
  const auto& k = parsed.keys->keys;
  EXPECT_EQ(k[0].kid, "rsa-1");
  EXPECT_EQ(k[0].alg, "RS256");
  EXPECT_EQ(k[0].kind, jwk::type::rsa);
  EXPECT_EQ(k[0].bits, 2048);
  EXPECT_TRUE(k[0].public_key);
  EXPECT_EQ(k[2].kind, jwk::type::ec_p256);
  EXPECT_EQ(k[2].alg, "");
  EXPECT_EQ(k[4].kind, jwk::type::oct);
  EXPECT_EQ(k[4].secret, keys().secret);
  EXPECT_TRUE(parsed.skipped.empty());
}

TEST(Jwks, SkipsUnknownKtyUnknownCurveAndNonSigningKeysWithReasons) {
  std::string json = std::string(R"({"keys":[
    {"kty":"OKP","crv":"Ed25519","x":"AAAA"},
    {"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA"},)") +
                     R"({"kty":"oct","use":"enc","k":")" + b64(keys().secret) + R"("},)" +
                     R"({"kty":"oct","key_ops":["encrypt"],"k":")" + b64(keys().secret) + R"("},)" +
                     oct_jwk(keys().secret, "good") + "]}";
  auto parsed = parse_jwks(json);
  ASSERT_EQ(parsed.error, "");
  ASSERT_EQ(parsed.keys->keys.size(), 1u);
  EXPECT_EQ(parsed.keys->keys[0].kid, "good");
  ASSERT_EQ(parsed.skipped.size(), 4u);
  EXPECT_EQ(parsed.skipped[0], "keys[0]: kty 'OKP' not supported");
  EXPECT_EQ(parsed.skipped[1], "keys[1]: crv 'P-384' not supported");
  EXPECT_EQ(parsed.skipped[2], "keys[2]: use 'enc' is not sig");
  EXPECT_EQ(parsed.skipped[3], "keys[3]: key_ops lacks verify");
}

TEST(Jwks, ReportsMissingModulusWithKeyIndexAndField) {
  std::string json =
      R"({"keys":[)" + oct_jwk(keys().secret, "a") + R"(,{"kty":"RSA","e":"AQAB"}]})";
  auto parsed = parse_jwks(json);
  EXPECT_EQ(parsed.error, "keys[1].n: missing");
  EXPECT_FALSE(parsed.keys);
}

TEST(Jwks, ReportsFieldThatIsNotBase64url) {
  auto parsed = parse_jwks(R"({"keys":[{"kty":"RSA","n":"ab+/cd==","e":"AQAB"}]})");
  EXPECT_EQ(parsed.error, "keys[0].n: not base64url");
  parsed = parse_jwks(R"({"keys":[{"kty":"oct","k":42}]})");
  EXPECT_EQ(parsed.error, "keys[0].k: not a string");
  parsed = parse_jwks(R"({"keys":[{"n":"AQAB"}]})");
  EXPECT_EQ(parsed.error, "keys[0].kty: missing");
}

TEST(Jwks, RejectsRsaKeySmallerThan2048Bits) {
  std::string json = R"({"keys":[)" + rsa_jwk(keys().small_rsa.get(), "weak", "RS256") + "]}";
  auto parsed = parse_jwks(json);
  EXPECT_EQ(parsed.error, "keys[0].n: RSA key of 1024 bits, at least 2048 required");
  EXPECT_FALSE(parsed.keys);
}

TEST(Jwks, RejectsHmacSecretShorterThan32Bytes) {
  auto parsed = parse_jwks(R"({"keys":[)" + oct_jwk("short secret", "k") + "]}");
  EXPECT_EQ(parsed.error, "keys[0].k: secret of 12 bytes, at least 32 required");
}

TEST(Jwks, RejectsEcCoordinatesOfWrongLengthAndPointsOffTheCurve) {
  std::string x = key_param(keys().ec.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32);
  std::string y = key_param(keys().ec.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  auto ec = [](std::string_view px, std::string_view py) {
    return R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + b64(px) + R"(","y":")" + b64(py) +
           R"("}]})";
  };
  EXPECT_EQ(parse_jwks(ec(x.substr(1), y)).error, "keys[0].x: must be 32 bytes");
  std::string off_curve = y;
  off_curve[31] = static_cast<char>(off_curve[31] ^ 1);
  EXPECT_EQ(parse_jwks(ec(x, off_curve)).error, "keys[0]: not a point on P-256");
  EXPECT_EQ(parse_jwks(ec(x, y)).error, "");
}

TEST(Jwks, RejectsRsaKeyThatFailsThePublicKeyCheck) {
  std::string n = key_param(keys().rsa.get(), OSSL_PKEY_PARAM_RSA_N);
  n.back() = static_cast<char>(n.back() & ~1);  // an even modulus cannot be a product of primes
  std::string json = R"({"keys":[{"kty":"RSA","n":")" + b64(n) + R"(","e":"AQAB"}]})";
  EXPECT_EQ(parse_jwks(json).error, "keys[0]: not a valid RSA public key");
}

TEST(Jwks, RejectsSetWithoutUsableKey) {
  EXPECT_EQ(parse_jwks(R"({"keys":[]})").error, "keys: no usable key (0 skipped)");
  auto parsed = parse_jwks(R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]})");
  EXPECT_EQ(parsed.error, "keys: no usable key (1 skipped)");
  EXPECT_EQ(parsed.skipped.size(), 1u);
  EXPECT_FALSE(parsed.keys);
}

TEST(Jwks, RejectsDocumentsThatAreNotAKeySet) {
  EXPECT_EQ(parse_jwks("not json").error, "jwks: not JSON");
  EXPECT_EQ(parse_jwks("[]").error, "jwks: not a JSON object");
  EXPECT_EQ(parse_jwks(R"({"kid":"x"})").error, "keys: missing");
  EXPECT_EQ(parse_jwks(R"({"keys":{}})").error, "keys: not an array");
  EXPECT_EQ(parse_jwks(R"({"keys":[42]})").error, "keys[0]: not an object");
}

// ---- verify_jwt: valid tokens ------------------------------------------------------------

TEST(Jwt, AcceptsValidHs256Token) {
  auto result = verify(hs256(claims()));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.subject, "alice");
  EXPECT_EQ(result.claims.issuer, issuer);
  EXPECT_EQ(result.claims.expires_at, now + 300);
  EXPECT_EQ(result.claims.key_id, "hmac-1");
}

TEST(Jwt, AcceptsValidRs256Token) {
  auto result = verify(rs256(claims()));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.key_id, "rsa-1");
}

TEST(Jwt, AcceptsValidEs256Token) {
  auto result = verify(es256(claims()));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.key_id, "ec-1");
}

TEST(Jwt, NamesEveryErrorForLogsAndMetrics) {
  EXPECT_EQ(to_string(jwt_error::none), "none");
  EXPECT_EQ(to_string(jwt_error::malformed), "malformed");
  EXPECT_EQ(to_string(jwt_error::unsupported_algorithm), "unsupported_algorithm");
  EXPECT_EQ(to_string(jwt_error::unknown_key), "unknown_key");
  EXPECT_EQ(to_string(jwt_error::key_mismatch), "key_mismatch");
  EXPECT_EQ(to_string(jwt_error::bad_signature), "bad_signature");
  EXPECT_EQ(to_string(jwt_error::expired), "expired");
  EXPECT_EQ(to_string(jwt_error::not_yet_valid), "not_yet_valid");
  EXPECT_EQ(to_string(jwt_error::wrong_issuer), "wrong_issuer");
  EXPECT_EQ(to_string(jwt_error::wrong_audience), "wrong_audience");
  EXPECT_EQ(to_string(jwt_error::missing_claim), "missing_claim");
}

// ---- time --------------------------------------------------------------------------------

TEST(Jwt, AcceptsTokenExpiredWithinLeeway) {
  auto result = verify(hs256(claims_without_exp("\"exp\":" + std::to_string(now - 60))));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
}

TEST(Jwt, RejectsExpiredTokenBeyondLeeway) {
  auto result = verify(hs256(claims_without_exp("\"exp\":" + std::to_string(now - 61))));
  EXPECT_EQ(result.error, jwt_error::expired);
  auto strict = rules();
  strict.leeway = std::chrono::seconds(0);
  EXPECT_EQ(verify(hs256(claims_without_exp("\"exp\":" + std::to_string(now - 1))), strict).error,
            jwt_error::expired);
}

TEST(Jwt, AcceptsNotBeforeWithinLeeway) {
  auto result = verify(hs256(claims("\"nbf\":" + std::to_string(now + 60))));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
}

TEST(Jwt, RejectsNotBeforeBeyondLeeway) {
  auto result = verify(hs256(claims("\"nbf\":" + std::to_string(now + 61))));
  EXPECT_EQ(result.error, jwt_error::not_yet_valid);
}

TEST(Jwt, RejectsTokenIssuedInTheFutureBeyondLeeway) {
  EXPECT_EQ(verify(hs256(claims("\"iat\":" + std::to_string(now + 60)))).error, jwt_error::none);
  EXPECT_EQ(verify(hs256(claims("\"iat\":" + std::to_string(now + 61)))).error,
            jwt_error::not_yet_valid);
}

TEST(Jwt, RoundsFractionalDatesTowardRejection) {
  EXPECT_EQ(verify(hs256(claims_without_exp("\"exp\":" + std::to_string(now - 60) + ".5"))).error,
            jwt_error::none);
  EXPECT_EQ(verify(hs256(claims_without_exp("\"exp\":" + std::to_string(now - 61) + ".9"))).error,
            jwt_error::expired);
  EXPECT_EQ(verify(hs256(claims("\"nbf\":" + std::to_string(now + 60) + ".1"))).error,
            jwt_error::not_yet_valid);
}

TEST(Jwt, RequiresExpUnlessRulesWaiveIt) {
  std::string token = hs256(claims_without_exp(R"("scope":"a")"));
  auto result = verify(token);
  EXPECT_EQ(result.error, jwt_error::missing_claim);
  EXPECT_EQ(result.detail, "claim exp: missing");
  auto lenient = rules();
  lenient.require_exp = false;
  result = verify(token, lenient);
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.expires_at, 0);
}

TEST(Jwt, RejectsDatesThatAreNotNumbers) {
  auto result = verify(hs256(claims_without_exp(R"("exp":"1750000300")")));
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "payload.exp: not a number");
  result = verify(hs256(claims(R"("nbf":true)")));
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "payload.nbf: not a number");
}

// ---- issuer and audience -----------------------------------------------------------------

TEST(Jwt, RejectsWrongOrMissingIssuer) {
  std::string other = R"({"iss":"https://evil.example","aud":")" + std::string(audience) +
                      R"(","exp":)" + std::to_string(now + 300) + "}";
  auto result = verify(hs256(other));
  EXPECT_EQ(result.error, jwt_error::wrong_issuer);
  EXPECT_EQ(result.detail, "issuer 'https://evil.example' is not 'https://as.example'");
  std::string none =
      R"({"aud":")" + std::string(audience) + R"(","exp":)" + std::to_string(now + 300) + "}";
  EXPECT_EQ(verify(hs256(none)).error, jwt_error::missing_claim);
  auto unchecked = rules();
  unchecked.issuer.clear();
  EXPECT_EQ(verify(hs256(other), unchecked).error, jwt_error::none);
}

TEST(Jwt, AcceptsAudienceAsStringOrArray) {
  auto with_aud = [](std::string_view aud) {
    return R"({"iss":")" + std::string(issuer) + R"(","aud":)" + std::string(aud) + R"(,"exp":)" +
           std::to_string(now + 300) + "}";
  };
  EXPECT_EQ(verify(hs256(with_aud(R"("https://mcp.example/mcp")"))).error, jwt_error::none);
  EXPECT_EQ(verify(hs256(with_aud(R"(["https://other.example","https://mcp.example/mcp"])"))).error,
            jwt_error::none);
  EXPECT_EQ(verify(hs256(with_aud(R"(["https://other.example"])"))).error,
            jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(with_aud(R"("https://other.example")"))).error, jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(with_aud("[]"))).error, jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(with_aud("[42]"))).error, jwt_error::malformed);
}

TEST(Jwt, IgnoresTrailingSlashOnEitherSideOfAudience) {
  auto with_aud = [](std::string_view aud) {
    return R"({"iss":")" + std::string(issuer) + R"(","aud":")" + std::string(aud) + R"(","exp":)" +
           std::to_string(now + 300) + "}";
  };
  EXPECT_EQ(verify(hs256(with_aud("https://mcp.example/mcp/"))).error, jwt_error::none);
  auto slashed = rules();
  slashed.audiences = {"https://mcp.example/mcp/"};
  EXPECT_EQ(verify(hs256(with_aud("https://mcp.example/mcp")), slashed).error, jwt_error::none);
  // Only the trailing slash is forgiven, not a different path.
  EXPECT_EQ(verify(hs256(with_aud("https://mcp.example/mcp/x"))).error, jwt_error::wrong_audience);
}

TEST(Jwt, RequiresAudienceOnlyWhenConfigured) {
  std::string no_aud =
      R"({"iss":")" + std::string(issuer) + R"(","exp":)" + std::to_string(now + 300) + "}";
  auto result = verify(hs256(no_aud));
  EXPECT_EQ(result.error, jwt_error::missing_claim);
  EXPECT_EQ(result.detail, "claim aud: missing");
  auto unchecked = rules();
  unchecked.audiences.clear();
  EXPECT_EQ(verify(hs256(no_aud), unchecked).error, jwt_error::none);
}

// ---- key selection and key confusion -----------------------------------------------------

TEST(Jwt, SelectsKeyByKid) {
  auto result = verify(es256(claims(), "ec-2", keys().ec2.get()));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.key_id, "ec-2");
  // Signed by ec-2 but naming ec-1: only ec-1 is tried.
  EXPECT_EQ(verify(es256(claims(), "ec-1", keys().ec2.get())).error, jwt_error::bad_signature);
}

TEST(Jwt, TriesEveryKeyOfTheAlgTypeWhenTokenHasNoKid) {
  auto result = verify(es256(claims(), "", keys().ec2.get()));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.key_id, "ec-2");
  EXPECT_EQ(verify(hs256(claims(), "")).claims.key_id, "hmac-1");
}

TEST(Jwt, RejectsUnknownKid) {
  auto result = verify(rs256(claims(), "rsa-2"));
  EXPECT_EQ(result.error, jwt_error::unknown_key);
  EXPECT_EQ(result.detail, "no key with kid 'rsa-2'");
}

TEST(Jwt, RejectsTokenWithoutKidWhenNoKeyFitsItsAlg) {
  auto rsa_only = parse_jwks(R"({"keys":[)" + rsa_jwk(keys().rsa.get(), "rsa-1", "RS256") + "]}");
  ASSERT_EQ(rsa_only.error, "");
  auto result = verify_jwt(es256(claims(), ""), *rsa_only.keys, rules(), now);
  EXPECT_EQ(result.error, jwt_error::unknown_key);
}

// The classic attack: the RSA public key is public, so an attacker signs HS256 with its bytes
// as the HMAC secret and names the RSA key, hoping the verifier feeds the key to HMAC.
TEST(Jwt, RejectsHs256TokenKeyedWithRsaPublicKeyBytes) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), keys().rsa.get()), 1);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<std::size_t>(length));
  unsigned char* der_bytes = nullptr;
  int der_length = i2d_PUBKEY(keys().rsa.get(), &der_bytes);
  ASSERT_GT(der_length, 0);
  std::string der(reinterpret_cast<char*>(der_bytes), static_cast<std::size_t>(der_length));
  OPENSSL_free(der_bytes);

  auto rsa_only = parse_jwks(R"({"keys":[)" + rsa_jwk(keys().rsa.get(), "rsa-1", "RS256") + "]}");
  ASSERT_EQ(rsa_only.error, "");
  auto rsa_no_alg = parse_jwks(R"({"keys":[)" + rsa_jwk(keys().rsa.get(), "rsa-1", "") + "]}");
  ASSERT_EQ(rsa_no_alg.error, "");
  for (const std::string& secret : {pem, der}) {
    std::string token = hs256(claims(), "rsa-1", secret);
    EXPECT_EQ(verify(token).error, jwt_error::key_mismatch);
    EXPECT_EQ(verify_jwt(token, *rsa_only.keys, rules(), now).error, jwt_error::key_mismatch);
    // Even when the JWK does not pin its alg, the key type alone forbids HMAC.
    auto result = verify_jwt(token, *rsa_no_alg.keys, rules(), now);
    EXPECT_EQ(result.error, jwt_error::key_mismatch);
    EXPECT_EQ(result.detail, "key 'rsa-1' is RSA, alg HS256 needs another type");
    // Without a kid there is no oct key to try at all.
    EXPECT_EQ(verify_jwt(hs256(claims(), "", secret), *rsa_only.keys, rules(), now).error,
              jwt_error::unknown_key);
  }
}

TEST(Jwt, RejectsTokenWhoseAlgDiffersFromTheJwkAlg) {
  // rsa-384 holds the right public key but is pinned to RS384.
  auto result = verify(rs256(claims(), "rsa-384"));
  EXPECT_EQ(result.error, jwt_error::key_mismatch);
  EXPECT_EQ(result.detail, "key 'rsa-384' is for alg 'RS384', not RS256");
}

TEST(Jwt, RejectsEs256TokenNamingAnOctKey) {
  std::string input = signing_input(header("ES256", "hmac-1"), claims());
  EXPECT_EQ(verify(with_signature(input, der_to_raw(digest_sign(keys().ec.get(), input)))).error,
            jwt_error::key_mismatch);
}

// ---- algorithms --------------------------------------------------------------------------

TEST(Jwt, RejectsAlgNoneInAnyCaseEvenWhenConfigured) {
  auto permissive = rules();
  permissive.algorithms.push_back("none");
  permissive.algorithms.push_back("None");
  permissive.algorithms.push_back("NONE");
  for (std::string_view alg : {"none", "None", "NONE", "nOnE"}) {
    std::string token = signing_input(header(alg, ""), claims()) + ".";
    auto result = verify(token, permissive);
    EXPECT_EQ(result.error, jwt_error::unsupported_algorithm) << alg;
    EXPECT_EQ(result.detail, "alg 'none' is never accepted");
    EXPECT_EQ(verify(token + "c2ln").error, jwt_error::unsupported_algorithm) << alg;
  }
}

TEST(Jwt, RejectsAlgNotInRules) {
  auto rsa_only = rules();
  rsa_only.algorithms = {"RS256"};
  auto result = verify(hs256(claims()), rsa_only);
  EXPECT_EQ(result.error, jwt_error::unsupported_algorithm);
  EXPECT_EQ(result.detail, "alg 'HS256' not accepted");
  EXPECT_EQ(verify(rs256(claims()), rsa_only).error, jwt_error::none);
}

TEST(Jwt, RejectsConfiguredButUnimplementedAlg) {
  auto wide = rules();
  wide.algorithms.push_back("RS384");
  std::string input = signing_input(header("RS384", "rsa-384"), claims());
  auto result = verify(with_signature(input, "sig"), wide);
  EXPECT_EQ(result.error, jwt_error::unsupported_algorithm);
  EXPECT_EQ(result.detail, "alg 'RS384' not implemented");
}

// ---- signatures --------------------------------------------------------------------------

TEST(Jwt, RejectsTamperedPayload) {
  std::string forged = b64(claims(R"("scope":"admin")"));
  for (const std::string& token : {hs256(claims()), rs256(claims()), es256(claims())}) {
    std::string tampered = segment(token, 0) + "." + forged + "." + segment(token, 2);
    auto result = verify(tampered);
    EXPECT_EQ(result.error, jwt_error::bad_signature) << result.detail;
  }
}

TEST(Jwt, RejectsSignatureFromAnotherKeyOfTheSameType) {
  EXPECT_EQ(verify(hs256(claims(), "hmac-1", "another secret of at least 32 bytes!!")).error,
            jwt_error::bad_signature);
  EXPECT_EQ(verify(rs256(claims(), "rsa-1", keys().small_rsa.get())).error,
            jwt_error::bad_signature);
}

TEST(Jwt, ChecksSignatureBeforeAnyClaim) {
  // Expired, wrong issuer, wrong audience, and forged: the forgery is what gets reported.
  std::string bad = R"({"iss":"x","aud":"y","exp":1})";
  EXPECT_EQ(verify(hs256(bad, "hmac-1", "not the secret but 32 bytes long!!")).error,
            jwt_error::bad_signature);
  // A payload that is not even JSON is refused for its signature, before the parser sees it.
  std::string input = signing_input(header("HS256", "hmac-1"), "not json");
  EXPECT_EQ(verify(with_signature(input, std::string(32, 'x'))).error, jwt_error::bad_signature);
}

TEST(Jwt, RejectsEs256SignatureNotInRawForm) {
  std::string input = signing_input(header("ES256", "ec-1"), claims());
  std::string der = digest_sign(keys().ec.get(), input);
  EXPECT_EQ(verify(with_signature(input, der)).error, jwt_error::bad_signature);
  std::string raw = der_to_raw(der);
  EXPECT_EQ(verify(with_signature(input, raw.substr(1))).error, jwt_error::bad_signature);
  EXPECT_EQ(verify(with_signature(input, raw + '\0')).error, jwt_error::bad_signature);
  EXPECT_EQ(verify(with_signature(input, raw)).error, jwt_error::none);
}

TEST(Jwt, RejectsRs256SignatureOfWrongLength) {
  std::string input = signing_input(header("RS256", "rsa-1"), claims());
  std::string signature = digest_sign(keys().rsa.get(), input);
  EXPECT_EQ(verify(with_signature(input, std::string(1, '\0') + signature)).error,
            jwt_error::bad_signature);
  EXPECT_EQ(verify(with_signature(input, signature.substr(1))).error, jwt_error::bad_signature);
}

// RFC 8017 wants the signature at full modulus length: one whose leading zero byte was dropped
// would be a second encoding of the same signature.
TEST(Jwt, RejectsRs256SignatureWithLeadingZeroDropped) {
  for (int attempt = 0; attempt < 5000; ++attempt) {
    std::string input =
        signing_input(header("RS256", "rsa-1"), claims("\"jti\":" + std::to_string(attempt)));
    std::string signature = digest_sign(keys().rsa.get(), input);
    if (signature[0] != '\0') {
      continue;
    }
    EXPECT_EQ(verify(with_signature(input, signature)).error, jwt_error::none);
    EXPECT_EQ(verify(with_signature(input, signature.substr(1))).error, jwt_error::bad_signature);
    return;
  }
  FAIL() << "no signature with a leading zero byte";
}

TEST(Jwt, LeavesNoOpenSslErrorsBehind) {
  ERR_clear_error();
  verify(rs256(claims(), "rsa-1", keys().small_rsa.get()));
  verify(es256(claims(), "ec-1", keys().ec2.get()));
  parse_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + b64(std::string(32, '\1')) +
             R"(","y":")" + b64(std::string(32, '\1')) + R"("}]})");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---- structure ---------------------------------------------------------------------------

TEST(Jwt, RejectsTokensThatAreNotThreeBase64urlSegments) {
  std::string good = hs256(claims());
  auto detail_of = [](std::string_view token) {
    auto result = verify(token);
    EXPECT_EQ(result.error, jwt_error::malformed) << token;
    return result.detail;
  };
  EXPECT_EQ(detail_of(""), "token: not three dot-separated segments");
  EXPECT_EQ(detail_of(segment(good, 0) + "." + segment(good, 1)),
            "token: not three dot-separated segments");
  EXPECT_EQ(detail_of(good + ".x"), "token: not three dot-separated segments");
  EXPECT_EQ(detail_of("!!." + segment(good, 1) + "." + segment(good, 2)), "header: not base64url");
  EXPECT_EQ(detail_of(segment(good, 0) + ".a=b." + segment(good, 2)), "payload: not base64url");
  EXPECT_EQ(detail_of(segment(good, 0) + "." + segment(good, 1) + ".abc/"),
            "signature: not base64url");
}

TEST(Jwt, RejectsHeaderThatIsNotAJsonObjectWithAnAlg) {
  auto detail_of = [](std::string_view header_json) {
    auto result = verify(signing_input(header_json, claims()) + ".c2ln");
    EXPECT_EQ(result.error, jwt_error::malformed) << header_json;
    return result.detail;
  };
  EXPECT_EQ(detail_of("{\"alg\":"), "header: not JSON");
  EXPECT_EQ(detail_of("[\"HS256\"]"), "header: not a JSON object");
  EXPECT_EQ(detail_of("{}"), "header.alg: missing");
  EXPECT_EQ(detail_of(R"({"alg":256})"), "header.alg: not a string");
  EXPECT_EQ(detail_of(R"({"alg":"HS256","kid":7})"), "header.kid: not a string");
  EXPECT_EQ(detail_of(R"({"alg":"HS256","alg":"none"})"), "header: duplicate member 'alg'");
  EXPECT_EQ(detail_of(R"({"alg":"HS256","crit":["b64"],"b64":false})"),
            "header.crit: critical extensions are not supported");
}

TEST(Jwt, RejectsSignedPayloadThatIsNotAJsonObject) {
  auto result = verify(hs256("[1,2]"));
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "payload: not a JSON object");
  result = verify(hs256("{\"exp\":"));
  EXPECT_EQ(result.detail, "payload: not JSON");
}

TEST(Jwt, RejectsDuplicateClaims) {
  // A second exp could be read by another component as the one that counts.
  auto result = verify(hs256(claims("\"exp\":" + std::to_string(now + 999999))));
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "payload: duplicate member 'exp'");
}

TEST(Jwt, RejectsTokenLongerThan16KiB) {
  std::string padding(max_token_bytes, 'p');
  std::string token = hs256(claims(R"("pad":")" + padding + "\""));
  ASSERT_GT(token.size(), max_token_bytes);
  auto result = verify(token);
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "token: longer than 16384 bytes");
  std::string fits = hs256(claims(R"("pad":")" + std::string(11000, 'p') + "\""));
  ASSERT_LE(fits.size(), max_token_bytes);
  EXPECT_EQ(verify(fits).error, jwt_error::none);
}

// ---- claims ------------------------------------------------------------------------------

TEST(Jwt, ReadsScopesFromSpaceSeparatedScope) {
  auto result = verify(hs256(claims(R"("scope":"tools:read  tools:call ","scp":["ignored"])")));
  ASSERT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.scopes, (std::vector<std::string>{"tools:read", "tools:call"}));
}

TEST(Jwt, ReadsScopesFromScpArrayOrString) {
  auto result = verify(hs256(claims(R"("scp":["a","b"])")));
  ASSERT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.scopes, (std::vector<std::string>{"a", "b"}));
  result = verify(hs256(claims(R"("scp":"c d")")));
  EXPECT_EQ(result.claims.scopes, (std::vector<std::string>{"c", "d"}));
  result = verify(hs256(claims(R"("scp":[1])")));
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "payload.scp: not an array of strings");
}

TEST(Jwt, ReadsTenantFromConfiguredClaim) {
  auto tenanted = rules();
  tenanted.tenant_claim = "org_id";
  auto result = verify(hs256(claims(R"("org_id":"acme")")), tenanted);
  ASSERT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.tenant, "acme");
  EXPECT_EQ(verify(hs256(claims(R"("org_id":"acme")"))).claims.tenant, "");
}

TEST(Jwt, RejectsMissingNonStringOrEmptyTenantClaim) {
  auto tenanted = rules();
  tenanted.tenant_claim = "org_id";
  for (std::string_view extra : {R"("org":"acme")", R"("org_id":42)", R"("org_id":"")"}) {
    auto result = verify(hs256(claims(extra)), tenanted);
    EXPECT_EQ(result.error, jwt_error::missing_claim) << extra;
    EXPECT_EQ(result.detail, "claim 'org_id': missing or not a non-empty string");
  }
}

TEST(Jwt, AllowsMissingSubjectButNotANonStringOne) {
  std::string no_sub = R"({"iss":")" + std::string(issuer) + R"(","aud":")" +
                       std::string(audience) + R"(","exp":)" + std::to_string(now + 300) + "}";
  auto result = verify(hs256(no_sub));
  EXPECT_EQ(result.error, jwt_error::none) << result.detail;
  EXPECT_EQ(result.claims.subject, "");
  std::string numeric_sub = R"({"iss":")" + std::string(issuer) + R"(","aud":")" +
                            std::string(audience) + R"(","sub":7,"exp":)" +
                            std::to_string(now + 300) + "}";
  result = verify(hs256(numeric_sub));
  EXPECT_EQ(result.error, jwt_error::malformed);
  EXPECT_EQ(result.detail, "payload.sub: not a string");
}

// Details go to logs: they may name claims and the issuer, never the token, its signature or
// the secret.
TEST(Jwt, DetailsNeverContainTokenSignatureOrSecret) {
  std::string expired = claims_without_exp("\"exp\":" + std::to_string(now - 1000));
  std::vector<std::string> tokens = {
      hs256(expired),
      hs256(claims(), "hmac-1", "not the secret but 32 bytes long!!"),
      rs256(claims(), "rsa-384"),
      rs256(claims(), "nope"),
      es256(claims(), "ec-1", keys().ec2.get()),
      hs256(claims(), "rsa-1", keys().secret),
      signing_input(header("HS256", "hmac-1"), claims()) + ".!!",
  };
  for (const std::string& token : tokens) {
    auto result = verify(token);
    ASSERT_NE(result.error, jwt_error::none);
    EXPECT_FALSE(result.detail.empty());
    std::string signature = segment(token, 2);
    EXPECT_EQ(result.detail.find(token), std::string::npos) << result.detail;
    EXPECT_EQ(result.detail.find(segment(token, 1)), std::string::npos) << result.detail;
    if (signature.size() > 4) {
      EXPECT_EQ(result.detail.find(signature), std::string::npos) << result.detail;
    }
    EXPECT_EQ(result.detail.find(keys().secret), std::string::npos) << result.detail;
    EXPECT_EQ(result.detail.find(b64(keys().secret)), std::string::npos) << result.detail;
  }
}

TEST(Jwt, QuotesTokenValuesInDetailsAsShortPrintableText) {
  std::string noisy = R"({"iss":"line1\nline2 )" + std::string(200, 'x') + R"(","aud":")" +
                      std::string(audience) + R"(","exp":)" + std::to_string(now + 300) + "}";
  auto result = verify(hs256(noisy));
  EXPECT_EQ(result.error, jwt_error::wrong_issuer);
  EXPECT_EQ(result.detail.find('\n'), std::string::npos);
  EXPECT_LT(result.detail.size(), 160u);
}
