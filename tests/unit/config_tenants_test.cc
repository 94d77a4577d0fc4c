#include "builtin.h"

#include "mcpgw/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

using namespace mcpgw;

namespace {

const std::string digest = "sha256:" + std::string(64, 'a');

config_result parse(const std::string& rest) {
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  return parse_config_text(R"(backends:
  - name: demo
    http: { url: "http://127.0.0.1:3311/mcp" }
routes: [{ path: /mcp, backend: demo }]
)" + rest,
                           "gateway.yaml", &registry);
}

std::string errors_of(const config_result& r) {
  std::string out;
  for (const auto& e : r.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

}  // namespace

TEST(ConfigTenants, ReadsTenantsPolicyAndTheChain) {
  auto r = parse(R"(tenants:
  - name: acme
    api_keys: [")" +
                 digest + R"("]
    allow: { routes: ["/mcp"], tools: ["*"] }
    deny:  { tools: ["*delete*"] }
    scopes: [{ tools: "deploy_*", scopes: [deploy] }]
filters:
  - auth: {}
  - method_filter: { deny: ["logging/*"] }
)");
  ASSERT_TRUE(r.config) << errors_of(r);
  ASSERT_EQ(r.config->tenants.size(), 1u);
  const tenant_config& t = r.config->tenants[0];
  EXPECT_EQ(t.name, "acme");
  EXPECT_EQ(t.api_key_digests, std::vector<std::string>{std::string(32, '\xaa')});
  EXPECT_EQ(t.allow.routes, std::vector<std::string>{"/mcp"});
  EXPECT_EQ(t.deny.tools, std::vector<std::string>{"*delete*"});
  ASSERT_EQ(t.scopes.size(), 1u);
  EXPECT_EQ(t.scopes[0].scopes, std::vector<std::string>{"deploy"});
  ASSERT_EQ(r.config->filters.size(), 2u);
  EXPECT_EQ(r.config->filters[0].name, "auth");
  EXPECT_EQ(r.config->filters[1].name, "method_filter");
}

TEST(ConfigTenants, AKeyThatIsNotADigestIsRefusedWithoutEchoingIt) {
  auto r = parse(R"(tenants:
  - name: acme
    api_keys: ["my-secret-key"]
filters: [{ auth: {} }]
)");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.errors.at(0).line, 7);
  EXPECT_EQ(r.errors.at(0).key, "tenants[0].api_keys[0]");
  EXPECT_EQ(errors_of(r).find("my-secret-key"), std::string::npos) << errors_of(r);
}

TEST(ConfigTenants, DuplicateTenantsAndSharedKeysAreErrors) {
  auto r = parse(R"(tenants:
  - { name: acme, api_keys: [")" +
                 digest + R"("] }
  - { name: acme, api_keys: [")" +
                 digest + R"("] }
filters: [{ auth: {} }]
)");
  ASSERT_FALSE(r.config);
  std::string all = errors_of(r);
  EXPECT_NE(all.find("gateway.yaml:7: tenants[1].name: duplicate tenant name \"acme\"; the first "
                     "is on line 6"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("already listed for tenant"), std::string::npos) << all;
}

TEST(ConfigTenants, TenantsWithoutAnAuthFilterAreAnError) {
  auto r = parse(R"(tenants:
  - { name: acme, api_keys: [")" +
                 digest + R"("] }
)");
  ASSERT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("no filter authenticates callers; add `- auth: {}` under filters"),
            std::string::npos)
      << errors_of(r);
}

TEST(ConfigTenants, UnknownFilterNamesTheOnesThisBuildHas) {
  auto r = parse("filters:\n  - ratelimit: {}\n");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.errors.at(0).to_string(),
            "gateway.yaml:6: filters[0].ratelimit: unknown filter \"ratelimit\"; this build has "
            "audit, auth, circuit_breaker, method_filter, rate_limit");
}

TEST(ConfigTenants, AnAuthFilterNobodyCanPassIsAnError) {
  auto r = parse("filters:\n  - auth: {}\n");
  ASSERT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("nobody could authenticate"), std::string::npos) << errors_of(r);
}

TEST(ConfigTenants, JwtNeedsItsKeysAnAudienceAndAuthorizationServers) {
  auto r = parse(R"(filters:
  - auth:
      jwt: { issuer: https://auth.example.com }
)");
  ASSERT_FALSE(r.config);
  std::string all = errors_of(r);
  EXPECT_NE(all.find("filters[0].auth.jwt.jwks_file: missing"), std::string::npos) << all;
  EXPECT_NE(all.find("set auth.resource"), std::string::npos) << all;
  auto no_as = parse(R"(filters:
  - auth:
      resource: https://mcp.example.com/mcp
      jwt: { issuer: https://auth.example.com, jwks_file: /nonexistent/jwks.json }
)");
  ASSERT_FALSE(no_as.config);
  all = errors_of(no_as);
  EXPECT_NE(all.find("authorization_servers: missing"), std::string::npos) << all;
  EXPECT_NE(all.find("cannot read \"/nonexistent/jwks.json\""), std::string::npos) << all;
}

TEST(ConfigTenants, TokensMustNameTheirTenantWhenThereAreTenants) {
  auto r = parse(R"(tenants: [{ name: acme, api_keys: [")" + digest + R"("] }]
filters:
  - auth:
      resource: https://mcp.example.com/mcp
      authorization_servers: [https://auth.example.com]
      jwt: { issuer: https://auth.example.com, jwks_url: https://auth.example.com/jwks }
)");
  ASSERT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("filters.auth.jwt.tenant_claim: missing; with tenants configured"),
            std::string::npos)
      << errors_of(r);
}

TEST(ConfigTenants, ResourceMustBeAnAbsoluteUrl) {
  auto r = parse(R"(tenants: [{ name: acme, api_keys: [")" + digest + R"("] }]
filters:
  - auth: { resource: /mcp }
)");
  ASSERT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("filters[0].auth.resource: expected an absolute https URL"),
            std::string::npos)
      << errors_of(r);
}

TEST(ConfigCredentials, HeadersExpandEnvironmentVariablesAndNameUnsetOnes) {
  ::setenv("MCPGW_TEST_TOKEN", "s3cret", 1);
  ::unsetenv("MCPGW_TEST_UNSET");
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  auto r = parse_config_text(R"(backends:
  - name: demo
    http:
      url: "http://127.0.0.1:3311/mcp"
      headers: { X-Api-Key: "${MCPGW_TEST_TOKEN}", X-Static: plain }
routes: [{ path: /mcp, backend: demo }]
)",
                             "gateway.yaml", &registry);
  ASSERT_TRUE(r.config) << errors_of(r);
  const auto& headers = r.config->backends[0].http.headers;
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].name, "X-Api-Key");
  EXPECT_EQ(headers[0].value, "s3cret");
  auto unset = parse_config_text(R"(backends:
  - name: demo
    http:
      url: "http://127.0.0.1:3311/mcp"
      headers: { X-Api-Key: "${MCPGW_TEST_UNSET}" }
routes: [{ path: /mcp, backend: demo }]
)",
                                 "gateway.yaml", &registry);
  ASSERT_FALSE(unset.config);
  EXPECT_EQ(unset.errors.at(0).to_string(),
            "gateway.yaml:5: backends[0].http.headers.X-Api-Key: environment variable "
            "\"MCPGW_TEST_UNSET\" is not set; set it before starting the gateway");
}

TEST(ConfigCredentials, TenantHeadersMustNameATenant) {
  auto r = parse_config_text(R"(backends:
  - name: demo
    http:
      url: "http://127.0.0.1:3311/mcp"
      tenant_headers: { initech: { Authorization: "Bearer x" } }
routes: [{ path: /mcp, backend: demo }]
tenants: [{ name: acme, api_keys: [")" +
                                 digest + R"("] }]
filters: [{ auth: {} }]
)",
                             "gateway.yaml", [] {
                               static filter_registry registry;
                               plugins::register_builtin_filters(registry);
                               return &registry;
                             }());
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.errors.at(0).to_string(),
            "gateway.yaml:5: backends[0].http.tenant_headers.initech: names tenant \"initech\", "
            "which is not in tenants; tenants are acme");
}

TEST(ConfigCredentials, ReservedOrBrokenHeaderNamesAreRefused) {
  auto r = parse_config_text(R"(backends:
  - name: demo
    http:
      url: "http://127.0.0.1:3311/mcp"
      headers: { Mcp-Session-Id: x, "Bad Name": y }
routes: [{ path: /mcp, backend: demo }]
)",
                             "gateway.yaml");
  ASSERT_FALSE(r.config);
  std::string all = errors_of(r);
  EXPECT_NE(all.find("header \"Mcp-Session-Id\" is set by the gateway itself"), std::string::npos)
      << all;
  EXPECT_NE(all.find("header \"Bad Name\" is not a valid header name"), std::string::npos) << all;
}

TEST(ConfigTenants, CredentialCacheLimitsAreChecked) {
  const auto with = [](const std::string& cache) {
    return parse(R"(tenants: [{ name: acme, api_keys: [")" + digest + R"("] }]
filters:
  - auth:
      credential_cache: )" +
                 cache + "\n");
  };
  EXPECT_TRUE(with("{ max_entries: 0, max_age: 1s }").config) << "0 turns it off";
  EXPECT_TRUE(with("{ max_entries: 1000000, max_age: 1h }").config);
  const std::map<std::string, std::string> bad{
      {"{ max_entries: 1000001 }",
       "filters[0].auth.credential_cache.max_entries: at most 1000000 entries, got 1000001"},
      {"{ max_entries: -1 }", "filters[0].auth.credential_cache.max_entries"},
      {"{ max_age: 500ms }", "filters[0].auth.credential_cache.max_age: at least 1s"},
      {"{ max_age: 0s }",
       "filters[0].auth.credential_cache.max_age: expected a duration greater than zero"},
      {"{ size: 10 }", "filters[0].auth.credential_cache.size"},
      {"64", "filters[0].auth.credential_cache"},
  };
  for (const auto& [cache, error] : bad) {
    auto r = with(cache);
    EXPECT_FALSE(r.config) << cache;
    EXPECT_NE(errors_of(r).find(error), std::string::npos) << cache << "\n" << errors_of(r);
  }
}
