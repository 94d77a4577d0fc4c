#include "auth/credential_cache.h"

#include <gtest/gtest.h>

using mcpgw::principal;
using mcpgw::auth::credential_cache;
using mcpgw::auth::credential_cache_settings;

namespace {

constexpr std::int64_t t0 = 1'800'000'000;

principal token_of(std::string subject) {
  principal p;
  p.via = principal::method::jwt;
  p.tenant = "acme";
  p.subject = std::move(subject);
  return p;
}

principal key_of(std::string subject) {
  principal p = token_of(std::move(subject));
  p.via = principal::method::api_key;
  return p;
}

}  // namespace

TEST(CredentialCache, AVerifiedCredentialIsFoundOnItsRouteAsWhatItWas) {
  credential_cache cache({});
  cache.put("tok", "/mcp", t0, credential_cache::never, token_of("alice"));
  const principal* who = cache.find("tok", "/mcp", principal::method::jwt, t0 + 1);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->subject, "alice");
  EXPECT_EQ(cache.find("other", "/mcp", principal::method::jwt, t0 + 1), nullptr);
  // A token's audience is per route; and a token is not an API key.
  EXPECT_EQ(cache.find("tok", "/admin", principal::method::jwt, t0 + 1), nullptr);
  EXPECT_EQ(cache.find("tok", "/mcp", principal::method::api_key, t0 + 1), nullptr);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 3u);
  EXPECT_EQ(cache.size(), 1u) << "a lookup on another route does not drop the entry";
}

TEST(CredentialCache, AnEntryLastsUntilNotAfterAndNoLongerThanMaxAge) {
  credential_cache cache({.max_entries = 8, .max_age = std::chrono::seconds(60)});
  cache.put("short", "/mcp", t0, t0 + 10, token_of("a"));
  cache.put("long", "/mcp", t0, credential_cache::never, key_of("b"));
  EXPECT_NE(cache.find("short", "/mcp", principal::method::jwt, t0 + 10), nullptr);
  EXPECT_EQ(cache.find("short", "/mcp", principal::method::jwt, t0 + 11), nullptr);
  EXPECT_EQ(cache.size(), 1u) << "the expired entry is dropped";
  EXPECT_NE(cache.find("long", "/mcp", principal::method::api_key, t0 + 59), nullptr);
  EXPECT_EQ(cache.find("long", "/mcp", principal::method::api_key, t0 + 60), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(CredentialCache, AClockThatWentBackIsAMiss) {
  credential_cache cache({});
  cache.put("tok", "/mcp", t0, credential_cache::never, token_of("a"));
  EXPECT_EQ(cache.find("tok", "/mcp", principal::method::jwt, t0 - 1), nullptr);
}

TEST(CredentialCache, HoldsAtMostMaxEntriesAndEvictsTheLeastRecentlyUsed) {
  credential_cache cache({.max_entries = 3, .max_age = std::chrono::seconds(300)});
  for (std::string c : {"a", "b", "c"}) {
    cache.put(c, "/mcp", t0, credential_cache::never, key_of(c));
  }
  ASSERT_NE(cache.find("a", "/mcp", principal::method::api_key, t0), nullptr);  // a is recent now
  cache.put("d", "/mcp", t0, credential_cache::never, key_of("d"));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.find("b", "/mcp", principal::method::api_key, t0), nullptr) << "b was the oldest";
  EXPECT_NE(cache.find("a", "/mcp", principal::method::api_key, t0), nullptr);
  EXPECT_NE(cache.find("c", "/mcp", principal::method::api_key, t0), nullptr);
  EXPECT_NE(cache.find("d", "/mcp", principal::method::api_key, t0), nullptr);
}

TEST(CredentialCache, PuttingACredentialAgainReplacesItsEntry) {
  credential_cache cache({});
  cache.put("tok", "/mcp", t0, credential_cache::never, token_of("alice"));
  cache.put("tok", "/admin", t0, credential_cache::never, token_of("alice@admin"));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.find("tok", "/mcp", principal::method::jwt, t0), nullptr);
  const principal* who = cache.find("tok", "/admin", principal::method::jwt, t0);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->subject, "alice@admin");
}

TEST(CredentialCache, ZeroEntriesTurnsItOffAndClearEmptiesIt) {
  credential_cache off({.max_entries = 0, .max_age = std::chrono::seconds(300)});
  off.put("tok", "/mcp", t0, credential_cache::never, token_of("a"));
  EXPECT_EQ(off.size(), 0u);
  EXPECT_EQ(off.find("tok", "/mcp", principal::method::jwt, t0), nullptr);

  credential_cache on({});
  on.put("tok", "/mcp", t0, credential_cache::never, token_of("a"));
  on.clear();
  EXPECT_EQ(on.find("tok", "/mcp", principal::method::jwt, t0), nullptr);
  on.put("tok", "/mcp", t0, credential_cache::never, token_of("a"));
  EXPECT_NE(on.find("tok", "/mcp", principal::method::jwt, t0), nullptr) << "usable after clear";
}
