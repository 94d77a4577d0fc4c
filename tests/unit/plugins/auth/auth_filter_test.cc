#include "auth/auth_filter.h"

#include "auth/api_keys.h"
#include "auth/jwt.h"
#include "builtin.h"
#include "filter/filter_chain.h"

#include "mcpgw/config.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

using namespace mcpgw;
using namespace mcpgw::plugins;

namespace {

constexpr std::string_view hmac_secret = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t now = 1'800'000'000;

std::string digest_of(std::string_view key) { return "sha256:" + to_hex(sha256(key)); }

std::string sign_hs256(const std::string& header, const std::string& payload) {
  std::string input = auth::base64url_encode(header) + "." + auth::base64url_encode(payload);
  unsigned char mac[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), hmac_secret.data(), static_cast<int>(hmac_secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return input + "." + auth::base64url_encode(std::string(reinterpret_cast<char*>(mac), length));
}

std::string token(const std::string& claims, const std::string& alg = "HS256") {
  return sign_hs256(R"({"alg":")" + alg + R"(","kid":"h1","typ":"JWT"})", claims);
}

class map_headers final : public request_headers {
 public:
  std::map<std::string, std::string> values;
  std::string_view get(std::string_view name) const override {
    auto it = values.find(std::string(name));
    return it == values.end() ? std::string_view() : std::string_view(it->second);
  }
};

// A gateway config with two tenants, API keys, a JWT issuer (HS256 JWKS in a temp file) and
// the auth filter built from it, as main builds it.
struct fixture {
  std::filesystem::path jwks = std::filesystem::temp_directory_path() /
                               ("mcpgw-auth-test-" + std::to_string(::getpid()) + ".json");
  filter_registry registry;
  gateway_config config;
  logger log{log_level::error};
  boost::asio::io_context ioc;
  std::unique_ptr<filter> built;
  auth_filter* auth = nullptr;

  explicit fixture(std::string extra_tenant_rules = "", std::string auth_extra = "") {
    std::ofstream(jwks) << R"({"keys":[{"kty":"oct","kid":"h1","alg":"HS256","k":")" +
                               auth::base64url_encode(hmac_secret) + R"("}]})";
    register_builtin_filters(registry);
    std::string yaml = R"(
backends:
  - { name: demo, http: { url: "http://127.0.0.1:3311/mcp" } }
  - { name: admin, http: { url: "http://127.0.0.1:3312/mcp" } }
routes:
  - { path: /mcp, backend: demo }
  - { path: /admin, backend: admin }
tenants:
  - name: acme
    api_keys: [")" + digest_of("acme-key") +
                       R"("]
    allow: { routes: ["/mcp"], tools: ["*"], prompts: ["greet*"], resources: ["file:///public/*"] }
    deny: { tools: ["*delete*"] }
    scopes: [{ tools: "deploy_*", scopes: [deploy, write] }]
)" + extra_tenant_rules +
                       R"(
  - name: globex
    api_keys: [")" + digest_of("globex-key") +
                       R"("]
filters:
  - auth:
      resource: https://mcp.example.com/mcp
      authorization_servers: [https://auth.example.com]
      api_key_header: X-Api-Key
      jwt: { issuer: https://auth.example.com, jwks_file: )" +
                       jwks.string() + R"(, tenant_claim: org }
)" + auth_extra;
    config_result result = parse_config_text(yaml, "gateway.yaml", &registry);
    for (const auto& e : result.errors) {
      ADD_FAILURE() << e.to_string();
    }
    config = std::move(*result.config);
    built = config.filters.at(0).factory->create({ioc.get_executor(), log, config});
    auth = dynamic_cast<auth_filter*>(built.get());
    auth->set_clock([] { return now; });
  }
  ~fixture() { std::filesystem::remove(jwks); }

  struct outcome {
    filter_status status;
    local_reply reply;
    principal who;
  };
  outcome authenticate(std::map<std::string, std::string> headers, std::string route = "/mcp",
                       std::string target = "/mcp") {
    map_headers h;
    h.values = std::move(headers);
    http_context ctx{h,
                     "POST",
                     target,
                     route,
                     route == "/mcp" ? "demo" : "admin",
                     client_transport::streamable_http,
                     {},
                     {}};
    filter_status status = auth->authenticate(ctx);
    return {status, ctx.reply, ctx.who};
  }

  outcome request(const principal& who, std::string method, std::string name) {
    message_context ctx{who,    nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request,
                        method, name,    "1",    "{}",   {},    {},
                        {}};
    filter_status status = filter_status::next;
    boost::asio::io_context io;
    boost::asio::co_spawn(io, auth->on_request(ctx), [&](std::exception_ptr e, filter_status s) {
      if (e) {
        std::rethrow_exception(e);
      }
      status = s;
    });
    io.run();
    return {status, ctx.reply, who};
  }

  static std::string header(const local_reply& reply, std::string_view name) {
    for (const auto& h : reply.headers) {
      if (h.name == name) {
        return h.value;
      }
    }
    return {};
  }
};

const std::string good_claims =
    R"({"iss":"https://auth.example.com","aud":"https://mcp.example.com/mcp","sub":"alice","org":"acme","exp":)" +
    std::to_string(now + 600) + R"(,"scope":"read deploy"})";

}  // namespace

TEST(Sha256, MatchesTheStandardsTestVectors) {
  // FIPS 180-2's examples: empty, one block, two blocks (the padding spills over), and a
  // million bytes through many.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(ApiKeys, FindsTheTenantOfAKeyByItsDigestOnly) {
  tenant_config t;
  t.name = "acme";
  t.api_key_digests.push_back(sha256("secret-1"));
  api_key_store store({t});
  auto match = store.find("secret-1");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->tenant, "acme");
  EXPECT_EQ(match->fingerprint, to_hex(sha256("secret-1")));
  EXPECT_FALSE(store.find("secret-2"));
  EXPECT_FALSE(store.find(""));
  EXPECT_FALSE(store.find(sha256("secret-1"))) << "the digest itself is not a key";
}

TEST(AuthFilter, NoCredentialsGets401WithTheResourceMetadataUrl) {
  fixture f;
  auto out = f.authenticate({});
  EXPECT_EQ(out.status, filter_status::stop);
  EXPECT_EQ(out.reply.status, 401u);
  EXPECT_EQ(out.reply.code, jsonrpc::unauthorized);
  EXPECT_EQ(fixture::header(out.reply, "WWW-Authenticate"),
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/"
            "oauth-protected-resource/mcp\", scope=\"deploy write\"");
}

TEST(AuthFilter, MalformedAuthorizationHeaderGets400InvalidRequest) {
  fixture f;
  for (std::string bad : {"Bearer", "Bearer ", "Bearer a b", "Bearer \"quoted\""}) {
    auto out = f.authenticate({{"authorization", bad}});
    EXPECT_EQ(out.reply.status, 400u) << bad;
    EXPECT_NE(fixture::header(out.reply, "WWW-Authenticate").find("error=\"invalid_request\""),
              std::string::npos)
        << bad;
  }
}

TEST(AuthFilter, AnotherSchemeGets401) {
  fixture f;
  auto out = f.authenticate({{"authorization", "Basic YWNtZTpzZWNyZXQ="}});
  EXPECT_EQ(out.reply.status, 401u);
}

TEST(AuthFilter, TokensInTheQueryStringAreRefused) {
  fixture f;
  auto out =
      f.authenticate({{"authorization", "Bearer acme-key"}}, "/mcp", "/mcp?access_token=acme-key");
  EXPECT_EQ(out.reply.status, 400u);
}

TEST(AuthFilter, UnknownApiKeyGets401InvalidToken) {
  fixture f;
  auto out = f.authenticate({{"authorization", "Bearer not-a-key"}});
  EXPECT_EQ(out.reply.status, 401u);
  EXPECT_NE(fixture::header(out.reply, "WWW-Authenticate").find("error=\"invalid_token\""),
            std::string::npos);
  EXPECT_EQ(out.reply.message.find("not-a-key"), std::string::npos) << "never echo a credential";
}

TEST(AuthFilter, ApiKeyFromBearerOrTheConfiguredHeaderNamesItsTenant) {
  fixture f;
  auto bearer = f.authenticate({{"authorization", "Bearer acme-key"}});
  EXPECT_EQ(bearer.status, filter_status::next);
  EXPECT_EQ(bearer.who.tenant, "acme");
  EXPECT_EQ(bearer.who.via, principal::method::api_key);
  EXPECT_EQ(bearer.who.subject, "key:" + to_hex(sha256("acme-key")));
  auto header = f.authenticate({{"X-Api-Key", "globex-key"}});
  EXPECT_EQ(header.status, filter_status::next);
  EXPECT_EQ(header.who.tenant, "globex");
}

TEST(AuthFilter, ARouteOutsideTheTenantsPolicyGets403) {
  fixture f;
  auto out = f.authenticate({{"authorization", "Bearer acme-key"}}, "/admin", "/admin");
  EXPECT_EQ(out.reply.status, 403u);
  EXPECT_EQ(out.reply.code, jsonrpc::forbidden);
  auto other = f.authenticate({{"authorization", "Bearer globex-key"}}, "/admin", "/admin");
  EXPECT_EQ(other.status, filter_status::next) << "globex has no route restriction";
}

TEST(AuthFilter, AValidTokenGivesTenantSubjectAndScopes) {
  fixture f;
  auto out = f.authenticate({{"authorization", "Bearer " + token(good_claims)}});
  ASSERT_EQ(out.status, filter_status::next) << out.reply.message;
  EXPECT_EQ(out.who.via, principal::method::jwt);
  EXPECT_EQ(out.who.tenant, "acme");
  EXPECT_EQ(out.who.subject, "alice");
  EXPECT_EQ(out.who.scopes, (std::vector<std::string>{"read", "deploy"}));
}

TEST(AuthFilter, ATokenForTheRoutesOwnUrlIsAcceptedToo) {
  fixture f;
  std::string claims = good_claims;
  claims.replace(claims.find("https://mcp.example.com/mcp"), 27, "https://mcp.example.com/admin");
  claims.replace(claims.find("\"acme\""), 6, "\"globex\"");
  auto out = f.authenticate({{"authorization", "Bearer " + token(claims)}}, "/admin", "/admin");
  EXPECT_EQ(out.status, filter_status::next) << out.reply.message;
}

TEST(AuthFilter, InvalidTokensGet401InvalidToken) {
  fixture f;
  auto with = [&](std::string from, std::string to) {
    std::string claims = good_claims;
    claims.replace(claims.find(from), from.size(), to);
    return token(claims);
  };
  const std::map<std::string, std::string> cases{
      {"expired", with(std::to_string(now + 600), std::to_string(now - 3600))},
      {"wrong audience", with("https://mcp.example.com/mcp", "https://other.example.com/mcp")},
      {"wrong issuer",
       with("\"iss\":\"https://auth.example.com\"", "\"iss\":\"https://evil.example\"")},
      {"not yet valid", with("\"sub\"", "\"nbf\":" + std::to_string(now + 3600) + ",\"sub\"")},
      {"bad signature", token(good_claims).substr(0, token(good_claims).size() - 2) + "AA"},
      {"alg none", auth::base64url_encode(R"({"alg":"none"})") + "." +
                       auth::base64url_encode(good_claims) + "."},
  };
  for (const auto& [what, jwt] : cases) {
    auto out = f.authenticate({{"authorization", "Bearer " + jwt}});
    EXPECT_EQ(out.reply.status, 401u) << what;
    EXPECT_NE(fixture::header(out.reply, "WWW-Authenticate").find("error=\"invalid_token\""),
              std::string::npos)
        << what;
  }
}

TEST(AuthFilter, ATokenWithoutSubjectGets401) {
  fixture f;
  std::string claims = good_claims;
  claims.replace(claims.find("\"sub\":\"alice\","), 14, "");
  auto out = f.authenticate({{"authorization", "Bearer " + token(claims)}});
  EXPECT_EQ(out.reply.status, 401u);
  EXPECT_EQ(out.reply.message, "the token has no subject (sub)");
}

TEST(AuthFilter, ATokenForAnotherRoutesUrlIsRefused) {
  fixture f;
  std::string claims = good_claims;
  claims.replace(claims.find("https://mcp.example.com/mcp"), 27, "https://mcp.example.com/admin");
  auto out = f.authenticate({{"authorization", "Bearer " + token(claims)}});
  EXPECT_EQ(out.reply.status, 401u) << "a token for /admin is not one for /mcp";
}

TEST(AuthFilter, ATokenOfAnUnknownTenantGets403) {
  fixture f;
  std::string claims = good_claims;
  claims.replace(claims.find("\"acme\""), 6, "\"initech\"");
  auto out = f.authenticate({{"authorization", "Bearer " + token(claims)}});
  EXPECT_EQ(out.reply.status, 403u);
}

TEST(AuthPolicy, ADeniedToolReadsLikeAnUnknownOne) {
  fixture f;
  auto who = f.authenticate({{"authorization", "Bearer acme-key"}}).who;
  auto denied = f.request(who, "tools/call", "repo_delete");
  EXPECT_EQ(denied.status, filter_status::stop);
  EXPECT_EQ(denied.reply.status, 200u);
  EXPECT_EQ(denied.reply.code, jsonrpc::invalid_params);
  EXPECT_EQ(denied.reply.message, "Tool repo_delete not found");
  EXPECT_EQ(f.request(who, "tools/call", "echo").status, filter_status::next);
  EXPECT_EQ(f.request(who, "prompts/get", "secret").reply.message, "Prompt secret not found");
  EXPECT_EQ(f.request(who, "prompts/get", "greeting").status, filter_status::next);
  EXPECT_EQ(f.request(who, "resources/read", "file:///private/x").reply.message,
            "Resource file:///private/x not found");
  EXPECT_EQ(f.request(who, "resources/subscribe", "file:///private/x").status, filter_status::stop);
  EXPECT_EQ(f.request(who, "resources/read", "file:///public/x").status, filter_status::next);
}

TEST(AuthPolicy, AToolNeedingScopesTheTokenLacksGets403InsufficientScope) {
  fixture f;
  auto who = f.authenticate({{"authorization", "Bearer " + token(good_claims)}}).who;
  auto out = f.request(who, "tools/call", "deploy_prod");
  EXPECT_EQ(out.reply.status, 403u);
  std::string challenge = fixture::header(out.reply, "WWW-Authenticate");
  EXPECT_NE(challenge.find("error=\"insufficient_scope\""), std::string::npos);
  EXPECT_NE(challenge.find("scope=\"deploy write\""), std::string::npos) << challenge;
  EXPECT_NE(challenge.find("resource_metadata="), std::string::npos);
  EXPECT_EQ(f.request(who, "tools/call", "echo").status, filter_status::next);
}

TEST(AuthPolicy, ListsShowOnlyWhatTheTenantMayUse) {
  fixture f;
  auto who = f.authenticate({{"authorization", "Bearer acme-key"}}).who;
  std::string body =
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"repo_delete","description":"x"},{"name":"add"}],"nextCursor":"c2"}})";
  response_context ctx{who,          "/mcp", "demo", "sid", jsonrpc::message_kind::result,
                       "tools/list", "",     body};
  f.auth->on_response(ctx);
  EXPECT_EQ(
      body,
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"add"}],"nextCursor":"c2"}})");
  std::string resources =
      R"({"jsonrpc":"2.0","id":2,"result":{"resources":[{"uri":"file:///public/a","name":"a"},{"uri":"file:///private/b","name":"b"}]}})";
  response_context rctx{
      who, "/mcp", "demo", "sid", jsonrpc::message_kind::result, "resources/list", "", resources};
  f.auth->on_response(rctx);
  EXPECT_EQ(resources.find("private"), std::string::npos);
  EXPECT_NE(resources.find("file:///public/a"), std::string::npos);
  auto other = f.authenticate({{"authorization", "Bearer globex-key"}}).who;
  std::string untouched = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"repo_delete"}]}})";
  std::string copy = untouched;
  response_context octx{other,        "/mcp", "demo", "sid", jsonrpc::message_kind::result,
                        "tools/list", "",     copy};
  f.auth->on_response(octx);
  EXPECT_EQ(copy, untouched) << "globex has no tool rules";
}

TEST(AuthMetadata, ServesProtectedResourceMetadataAtTheRootAndPerRoute) {
  fixture f;
  auto docs = f.auth->endpoints();
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].path, "/.well-known/oauth-protected-resource");
  EXPECT_EQ(
      docs[0].body,
      R"({"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"bearer_methods_supported":["header"],"scopes_supported":["deploy","write"],"resource_name":"mcpgw"})");
  EXPECT_EQ(docs[1].path, "/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(docs[2].path, "/.well-known/oauth-protected-resource/admin");
  EXPECT_NE(docs[2].body.find(R"("resource":"https://mcp.example.com/admin")"), std::string::npos);
}

// The credential cache: a credential verified once is not verified again while it is valid,
// and everything that decides per request (route policy, expiry, the kind of credential) still
// does.
TEST(AuthCache, ARepeatedTokenOrKeyIsVerifiedOnceAndGivesTheSamePrincipal) {
  fixture f;
  const std::string jwt = token(good_claims);
  auto first = f.authenticate({{"authorization", "Bearer " + jwt}});
  auto second = f.authenticate({{"authorization", "Bearer " + jwt}});
  ASSERT_EQ(second.status, filter_status::next) << second.reply.message;
  EXPECT_TRUE(second.who.same_as(first.who));
  EXPECT_EQ(second.who.scopes, first.who.scopes);
  auto key1 = f.authenticate({{"authorization", "Bearer acme-key"}});
  auto key2 = f.authenticate({{"X-Api-Key", "acme-key"}});
  ASSERT_EQ(key2.status, filter_status::next);
  EXPECT_TRUE(key2.who.same_as(key1.who));
  EXPECT_EQ(f.auth->cache().stats().hits, 2u);
  EXPECT_EQ(f.auth->cache().stats().misses, 2u);
  EXPECT_EQ(f.auth->stats().authenticated, 4u);
}

TEST(AuthCache, ACachedTokenStopsWorkingWhenItExpires) {
  fixture f;
  std::int64_t clock = now;
  f.auth->set_clock([&] { return clock; });
  const std::string jwt = token(good_claims);  // exp now + 600, leeway 60 s
  clock = now + 600 + 60;
  ASSERT_EQ(f.authenticate({{"authorization", "Bearer " + jwt}}).status, filter_status::next);
  ASSERT_EQ(f.authenticate({{"authorization", "Bearer " + jwt}}).status, filter_status::next);
  EXPECT_EQ(f.auth->cache().stats().hits, 1u);
  clock = now + 600 + 61;
  auto late = f.authenticate({{"authorization", "Bearer " + jwt}});
  EXPECT_EQ(late.reply.status, 401u);
  EXPECT_EQ(late.reply.message, "the token expired");
}

TEST(AuthCache, EntriesAreReverifiedAfterMaxAgeAndBoundedByMaxEntries) {
  fixture f("", "      credential_cache: { max_entries: 1, max_age: 30s }\n");
  std::int64_t clock = now;
  f.auth->set_clock([&] { return clock; });
  f.authenticate({{"authorization", "Bearer acme-key"}});
  f.authenticate({{"authorization", "Bearer acme-key"}});
  EXPECT_EQ(f.auth->cache().stats().hits, 1u);
  clock = now + 30;
  f.authenticate({{"authorization", "Bearer acme-key"}});
  EXPECT_EQ(f.auth->cache().stats().hits, 1u) << "30 s old: verified again";
  f.authenticate({{"authorization", "Bearer globex-key"}});
  EXPECT_EQ(f.auth->cache().size(), 1u);
  EXPECT_EQ(f.auth->cache().stats().evictions, 1u);
}

TEST(AuthCache, ZeroMaxEntriesVerifiesEveryRequest) {
  fixture f("", "      credential_cache: { max_entries: 0 }\n");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f.authenticate({{"authorization", "Bearer acme-key"}}).status, filter_status::next);
  }
  EXPECT_EQ(f.auth->cache().stats().hits, 0u);
  EXPECT_EQ(f.auth->cache().size(), 0u);
}

TEST(AuthCache, ATokenAcceptedOnOneRouteIsStillRefusedOnAnother) {
  fixture f;
  std::string claims = good_claims;
  claims.replace(claims.find("https://mcp.example.com/mcp"), 27, "https://mcp.example.com/admin");
  claims.replace(claims.find("\"acme\""), 6, "\"globex\"");
  const std::string jwt = token(claims);
  ASSERT_EQ(f.authenticate({{"authorization", "Bearer " + jwt}}, "/admin", "/admin").status,
            filter_status::next);
  EXPECT_EQ(f.authenticate({{"authorization", "Bearer " + jwt}}).reply.status, 401u)
      << "its audience is /admin";
  EXPECT_EQ(f.authenticate({{"authorization", "Bearer " + jwt}}, "/admin", "/admin").status,
            filter_status::next)
      << "the /admin entry survived the refusal on /mcp";
}

TEST(AuthCache, ACachedTokenIsNotAnApiKeyAndPolicyStillApplies) {
  fixture f;
  const std::string jwt = token(good_claims);
  ASSERT_EQ(f.authenticate({{"authorization", "Bearer " + jwt}}).status, filter_status::next);
  auto as_key = f.authenticate({{"X-Api-Key", jwt}});
  EXPECT_EQ(as_key.reply.status, 401u);
  EXPECT_EQ(as_key.reply.message, "unknown API key");
  // acme may not use /admin: refused when verified, and again when found in the cache.
  EXPECT_EQ(f.authenticate({{"authorization", "Bearer acme-key"}}, "/admin", "/admin").reply.status,
            403u);
  const auto hits = f.auth->cache().stats().hits;
  EXPECT_EQ(f.authenticate({{"authorization", "Bearer acme-key"}}, "/admin", "/admin").reply.status,
            403u);
  EXPECT_EQ(f.auth->cache().stats().hits, hits + 1) << "the second refusal came from the cache";
}

TEST(AuthCache, AnApiKeyIsFoundOnEveryRoute) {
  fixture f;
  ASSERT_EQ(f.authenticate({{"authorization", "Bearer globex-key"}}).status, filter_status::next);
  ASSERT_EQ(f.authenticate({{"authorization", "Bearer globex-key"}}, "/admin", "/admin").status,
            filter_status::next);
  EXPECT_EQ(f.auth->cache().stats().hits, 1u) << "an API key does not depend on the route";
  EXPECT_EQ(f.auth->cache().size(), 1u);
}
